"""The scheduler's work: claim due deliveries, render them, transmit them, record the outcome.

Claiming is a short transaction (PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED, so any number of
workers share the queue without taking the same row; SQLite: compare-and-set) that marks the rows
"sending" with a lease. A worker that dies mid-send leaves its rows "sending" with an expired
lease; whoever claims them next treats the outcome as unknown and asks the platform (find())
before sending again. Every delivery carries its own idempotency key for that question.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from services.publishing.domain.channels import CHANNELS, ChannelPolicy
from services.publishing.domain.items import mark_published
from services.publishing.formatters import RenderContext, formatter_for
from services.publishing.models import (
    channel_sequences,
    channel_state,
    deliveries,
    items,
    media_assets,
    portal_entries,
    renditions,
)
from services.publishing.transmitters.base import (
    Job,
    PermanentError,
    RenderedFile,
    SendResult,
    TransientError,
    Transmitter,
)
from shared.db import Database

log = logging.getLogger(__name__)
MapFn = Callable[[Callable[[dict[str, Any]], str], Iterable[dict[str, Any]]], Iterable[str]]


@dataclass
class DispatchConfig:
    lease_s: float = 30.0
    batch: int = 200
    attention_after: int = 3
    portal_url: str = "http://localhost:8000/portal"
    inline_wait_cap_s: float = 5.0
    """A Retry-After longer than this is honoured by rescheduling, not by sleeping."""


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        transmitter_for: Callable[[str], Transmitter],
        config: DispatchConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.db = db
        self.transmitter_for = transmitter_for
        self.config = config
        self.clock = clock
        import time

        self.sleep = sleep or time.sleep
        self._renditions: dict[tuple[str, str, int], tuple[list[RenderedFile], int]] = {}

    # --- claim ----------------------------------------------------------------------------
    def _due_query(self, now: datetime, limit: int) -> Any:
        paused = select(channel_state.c.channel).where(channel_state.c.status == "needs_attention")
        d = deliveries.c
        return (
            select(d.id, d.status, d.lease_until, d.progress)
            .where(
                or_(
                    (d.status == "scheduled") & (d.next_attempt_at <= now),
                    (d.status == "sending") & (d.lease_until < now),
                ),
                d.channel.notin_(paused),
            )
            .order_by(d.next_attempt_at)
            .limit(limit)
        )

    def claim(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Take up to limit due deliveries for this worker; returns them with their lease."""
        now = self.clock()
        limit = limit or self.config.batch
        lease = now + timedelta(seconds=self.config.lease_s)
        claimed: list[dict[str, Any]] = []
        with self.db.session() as s:
            query = self._due_query(now, limit)
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True, of=deliveries)
            rows = s.execute(query).all()
            if not self.db.is_sqlite and rows:
                # The rows are locked by this transaction: one UPDATE marks them all.
                s.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_([r.id for r in rows]))
                    .values(status="sending", lease_until=lease, attempts=deliveries.c.attempts + 1)
                )
                return [
                    {
                        "id": r.id,
                        "lease": lease,
                        "recovering": r.status == "sending"
                        or bool((r.progress or {}).get("check_first")),
                    }
                    for r in rows
                ]
            for r in rows:
                recovering = r.status == "sending" or bool((r.progress or {}).get("check_first"))
                stmt = (
                    update(deliveries)
                    .where(deliveries.c.id == r.id, deliveries.c.status == r.status)
                    .values(status="sending", lease_until=lease, attempts=deliveries.c.attempts + 1)
                )
                if r.status == "sending":  # compare-and-set on the old lease (SQLite path)
                    stmt = stmt.where(deliveries.c.lease_until == r.lease_until)
                if s.execute(stmt).rowcount == 1:
                    claimed.append({"id": r.id, "lease": lease, "recovering": recovering})
        return claimed

    # --- one delivery ---------------------------------------------------------------------
    def process(self, claim: dict[str, Any]) -> str:
        """Render (once per item version and channel), transmit, and record the outcome."""
        try:
            return self._process(claim)
        except Exception as exc:  # a bug must not kill the scheduler; the lease will expire
            log.exception("delivery %s failed unexpectedly", claim["id"])
            return self._transient(claim, f"internal error: {type(exc).__name__}: {exc}", None)

    def _process(self, claim: dict[str, Any]) -> str:
        with self.db.session() as s:
            d = s.execute(select(deliveries).where(deliveries.c.id == claim["id"])).mappings().one()
            item = dict(s.execute(select(items).where(items.c.id == d["item_id"])).mappings().one())
            paused = s.execute(
                select(channel_state.c.status).where(channel_state.c.channel == d["channel"])
            ).scalar()
        if item["status"] == "withdrawn":
            return self._finish(claim, "cancelled", reason="the item was withdrawn")
        if item["status"] in ("draft", "in_review"):
            return self._postpone(claim, "waiting for the correction to be approved", 60)
        if paused == "needs_attention":  # flipped by an earlier delivery of this batch
            return self._postpone(claim, "the channel needs attention; waiting for an operator", 0)
        policy = CHANNELS[d["channel"]]
        files, sequence = self._rendition(dict(d), item)
        job = Job(
            delivery_id=d["id"],
            idempotency_key=d["idempotency_key"],
            channel=d["channel"],
            item=item,
            files=files,
            options=dict(d["options"] or {}),
            due_at=_utc(d["due_at"]) or self.clock(),
            sequence=sequence,
            progress=dict(d["progress"] or {}),
            save_progress=lambda p: self._save_progress(claim, p),
            claimed_at=self.clock(),
        )
        transmitter = self.transmitter_for(d["channel"])
        try:
            result = self._transmit(transmitter, job, policy, claim["recovering"])
        except PermanentError as exc:
            return self._permanent(claim, exc.reason)
        except TransientError as exc:
            return self._transient(claim, exc.reason, exc.retry_after)
        return self._succeeded(claim, result, sequence)

    def _transmit(
        self, transmitter: Transmitter, job: Job, policy: ChannelPolicy, check_first: bool
    ) -> SendResult:
        state = {"check_first": check_first}

        def attempt() -> SendResult:
            if state["check_first"]:
                found = transmitter.find(job)
                if found is not None:
                    log.info("delivery %s was already on %s", job.delivery_id, job.channel)
                    return found
            state["check_first"] = True  # whatever happens next, the platform may have it
            return transmitter.send(job)

        def wait(rs: RetryCallState) -> float:
            exc = rs.outcome.exception() if rs.outcome else None
            after = getattr(exc, "retry_after", None)
            base = min(2 ** (rs.attempt_number - 1) * 0.5, self.config.inline_wait_cap_s)
            return base if after is None else after

        def stop(rs: RetryCallState) -> bool:
            exc = rs.outcome.exception() if rs.outcome else None
            after = getattr(exc, "retry_after", None) or 0
            too_long = after > self.config.inline_wait_cap_s
            return too_long or stop_after_attempt(policy.inline_attempts)(rs)

        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop,
            wait=wait,
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(attempt)

    def _rendition(self, d: dict[str, Any], item: dict[str, Any]) -> tuple[list[RenderedFile], int]:
        """The stored rendition of this item version for the channel, made once."""
        cache_key = (item["id"], d["channel"], item["version"])
        if cache_key in self._renditions:
            return self._renditions[cache_key]
        r = renditions.c
        with self.db.session() as s:
            found = s.execute(
                select(r.files, r.sequence).where(
                    r.item_id == item["id"], r.channel == d["channel"],
                    r.item_version == item["version"],
                )
            ).first()  # fmt: skip
        if found:
            result = [RenderedFile(**f) for f in found.files], int(found.sequence)
            if len(self._renditions) > 10_000:
                self._renditions.clear()
            self._renditions[cache_key] = result  # renditions never change once stored
            return result
        ctx = self._context(d, item)
        try:
            with self.db.session() as s:
                seq = self._next_sequence(s, d["channel"])
                files = formatter_for(d["channel"])(item, _with_seq(ctx, seq))
                s.execute(
                    insert(renditions).values(
                        item_id=item["id"],
                        channel=d["channel"],
                        item_version=item["version"],
                        sequence=seq,
                        files=[f.as_dict() for f in files],
                        created_at=self.clock(),
                    )
                )
        except IntegrityError:
            return self._rendition(d, item)  # another worker rendered this version first
        return files, seq

    def _next_sequence(self, s: Any, channel: str) -> int:
        """The channel's next rendition number, from a counter row (held only briefly)."""
        seq = s.execute(
            update(channel_sequences)
            .where(channel_sequences.c.channel == channel)
            .values(last=channel_sequences.c.last + 1)
            .returning(channel_sequences.c.last)
        ).scalar()
        if seq is None:
            with s.begin_nested():
                s.execute(insert(channel_sequences).values(channel=channel, last=0))
            return self._next_sequence(s, channel)
        return int(seq)

    def _context(self, d: dict[str, Any], item: dict[str, Any]) -> RenderContext:
        asset = None
        digest: list[dict[str, Any]] = []
        with self.db.session() as s:
            if item.get("asset_id"):
                row = (
                    s.execute(
                        select(media_assets).where(media_assets.c.asset_id == item["asset_id"])
                    )
                    .mappings()
                    .first()
                )
                asset = dict(row) if row else None
            if d["channel"] == "ebulletin":
                due = _utc(d["due_at"]) or self.clock()
                since = due - timedelta(days=31)
                rows = s.execute(
                    select(portal_entries)
                    .where(
                        portal_entries.c.published_at >= since,
                        portal_entries.c.withdrawn.is_(False),
                        portal_entries.c.item_id != item["id"],
                    )
                    .order_by(portal_entries.c.published_at)
                ).mappings()
                base = self.config.portal_url.rstrip("/")
                digest = [
                    {"title": e["title"], "summary": e["summary"], "url": f"{base}/{e['item_id']}"}
                    for e in rows
                ]
        options = dict(d.get("options") or {})
        return RenderContext(
            sequence=0,
            now=self.clock(),
            portal_url=self.config.portal_url,
            options=options,
            asset=asset,
            digest=digest,
        )

    # --- outcomes -------------------------------------------------------------------------
    def _owned(self, claim: dict[str, Any]) -> Any:
        return (
            (deliveries.c.id == claim["id"])
            & (deliveries.c.status == "sending")
            & (deliveries.c.lease_until == claim["lease"])
        )

    def _save_progress(self, claim: dict[str, Any], progress: dict[str, Any]) -> None:
        lease = self.clock() + timedelta(seconds=self.config.lease_s)
        with self.db.session() as s:
            done = s.execute(
                update(deliveries)
                .where(self._owned(claim))
                .values(progress=progress, lease_until=lease)
            )
        if done.rowcount == 1:
            claim["lease"] = lease  # a long upload keeps its lease while it makes progress

    def _finish(self, claim: dict[str, Any], status: str, **values: Any) -> str:
        with self.db.session() as s:
            s.execute(
                update(deliveries)
                .where(self._owned(claim))
                .values(status=status, lease_until=None, **values)
            )
        return status

    def _postpone(self, claim: dict[str, Any], reason: str, seconds: float) -> str:
        with self.db.session() as s:
            s.execute(
                update(deliveries)
                .where(self._owned(claim))
                .values(
                    status="scheduled",
                    lease_until=None,
                    reason=reason,
                    attempts=deliveries.c.attempts - 1,
                    next_attempt_at=self.clock() + timedelta(seconds=seconds),
                )
            )
        return "postponed"

    def _succeeded(self, claim: dict[str, Any], result: SendResult, sequence: int) -> str:
        now = self.clock()
        with self.db.session() as s:
            d = s.execute(select(deliveries).where(deliveries.c.id == claim["id"])).mappings().one()
            done = s.execute(
                update(deliveries)
                .where(self._owned(claim))
                .values(
                    status="succeeded",
                    lease_until=None,
                    remote_id=result.remote_id,
                    url=result.url,
                    reason=None,
                    sent_at=now,
                    rendition_seq=sequence,
                )
            )
            if done.rowcount != 1:
                log.warning("delivery %s: lease lost before recording success", claim["id"])
                return "lost"
            self._channel_ok(s, d["channel"], now)
            self.db.record_event(
                s,
                "publishing.delivery_succeeded",
                {
                    "delivery_id": d["id"],
                    "item_id": d["item_id"],
                    "channel": d["channel"],
                    "remote_id": result.remote_id,
                    "url": result.url,
                },
            )
            mark_published(s, d["item_id"], d["channel"], self.db.record_event)
        return "succeeded"

    def _transient(self, claim: dict[str, Any], reason: str, retry_after: float | None) -> str:
        now = self.clock()
        with self.db.session() as s:
            d = s.execute(select(deliveries).where(deliveries.c.id == claim["id"])).mappings().one()
            policy = CHANNELS[d["channel"]]
            if d["attempts"] >= policy.max_attempts:
                return self._permanent(
                    claim, f"gave up after {d['attempts']} attempts; last error: {reason}"
                )
            backoff = min(policy.backoff_s * 2 ** (d["attempts"] - 1), policy.backoff_cap_s)
            delay = max(backoff, retry_after or 0)
            progress = {**(d["progress"] or {}), "check_first": True}
            s.execute(
                update(deliveries)
                .where(self._owned(claim))
                .values(
                    status="scheduled",
                    lease_until=None,
                    reason=f"retrying in {delay:.0f}s: {reason}"[:2000],
                    next_attempt_at=now + timedelta(seconds=delay),
                    progress=progress,
                )
            )
        return "retry"

    def _permanent(self, claim: dict[str, Any], reason: str) -> str:
        now = self.clock()
        with self.db.session() as s:
            d = s.execute(select(deliveries).where(deliveries.c.id == claim["id"])).mappings().one()
            done = s.execute(
                update(deliveries)
                .where(self._owned(claim))
                .values(status="failed", lease_until=None, reason=reason[:2000])
            )
            if done.rowcount != 1:
                return "lost"
            self.db.record_event(
                s,
                "publishing.delivery_failed",
                {
                    "delivery_id": d["id"],
                    "item_id": d["item_id"],
                    "channel": d["channel"],
                    "reason": reason[:2000],
                    "permanent": True,
                },
            )
            self._channel_failed(s, d["channel"], reason, now)
        return "failed"

    def _channel_ok(self, s: Any, channel: str, now: datetime) -> None:
        # Touch the row only when there is a streak to reset: every success writing the same
        # row would serialize all concurrent sends of a channel on its lock.
        s.execute(
            update(channel_state)
            .where(channel_state.c.channel == channel, channel_state.c.consecutive_failures > 0)
            .values(consecutive_failures=0, updated_at=now)
        )

    def _channel_failed(self, s: Any, channel: str, reason: str, now: datetime) -> None:
        row = (
            s.execute(select(channel_state).where(channel_state.c.channel == channel))
            .mappings()
            .first()
        )
        failures = (row["consecutive_failures"] if row else 0) + 1
        status = row["status"] if row else "ok"
        flip = status == "ok" and failures >= self.config.attention_after
        values = {
            "consecutive_failures": failures,
            "reason": reason[:2000],
            "updated_at": now,
            "status": "needs_attention" if flip else status,
        }
        if row:
            s.execute(
                update(channel_state).where(channel_state.c.channel == channel).values(**values)
            )
        else:
            s.execute(insert(channel_state).values(channel=channel, **values))
        if flip:
            self.db.record_event(
                s,
                "publishing.channel_needs_attention",
                {
                    "channel": channel,
                    "reason": f"{failures} lần gửi thất bại liên tiếp / {failures} failures in a "
                    f"row; last: {reason}"[:2000],
                },
            )

    # --- loop -----------------------------------------------------------------------------
    def feed(self, pool: Any) -> int:
        """Claim as many due deliveries as the pool has free workers and start them; a slow
        send never holds back the next due ones (no batch barrier)."""
        free = pool.free()
        if free <= 0:
            return 0
        claimed = self.claim(min(free, self.config.batch))
        for c in claimed:
            pool.spawn_n(self.process, c)
        return len(claimed)

    def run_once(self, map_fn: MapFn = map) -> int:  # type: ignore[assignment]
        """Claim one batch and process it (concurrently when map_fn is a pool's imap)."""
        claimed = self.claim()
        if claimed:
            list(map_fn(self.process, claimed))
        return len(claimed)


def _with_seq(ctx: RenderContext, seq: int) -> RenderContext:
    from dataclasses import replace

    return replace(ctx, sequence=seq)


def channel_states(db: Database) -> list[dict[str, Any]]:
    with db.session() as s:
        known = {r["channel"]: dict(r) for r in s.execute(select(channel_state)).mappings()}
    return [
        known.get(
            name, {"channel": name, "status": "ok", "consecutive_failures": 0, "reason": None}
        )
        for name in CHANNELS
    ]


def resume_channel(db: Database, channel: str) -> None:
    """An operator fixed the cause (e.g. a new token): the channel sends again."""
    with db.session() as s:
        s.execute(
            update(channel_state)
            .where(channel_state.c.channel == channel)
            .values(status="ok", consecutive_failures=0, reason=None, updated_at=datetime.now(UTC))
        )
