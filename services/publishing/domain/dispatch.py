"""The scheduler's work: claim due deliveries, render them, transmit them, record the outcome.

Claiming is one statement for all that is due (PostgreSQL: UPDATE … FROM (SELECT … FOR UPDATE
SKIP LOCKED) RETURNING the deliveries with their items, so any number of workers share the queue
without taking the same row; SQLite: compare-and-set) that marks the rows "sending" with a lease.
Sends run concurrently on a bounded green pool; their successes are kept in memory for a few tens
of milliseconds and recorded together (PostgreSQL: one statement marks them, resets the channels'
failure streaks and writes their events), failures at once. Renditions are made ahead of the due
time. So a delivery costs a fraction of a transaction, not several.

A worker that dies mid-send leaves its rows "sending" with an expired lease; whoever claims them
next treats the outcome as unknown and asks the platform (find()) before sending again. Every
delivery carries its own idempotency key for that question. An attempt starts only with half a
lease ahead (renewed if need be), and a success is recorded only while the lease is still this
worker's, so a delivery is never sent by two workers at once, nor recorded twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from services.publishing.domain.channels import CHANNELS, ChannelPolicy
from services.publishing.domain.items import mark_published_many
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
from shared.events.envelope import Envelope
from shared.events.tables import get_event_tables
from shared.logging import redact_secrets

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
    flush_interval_s: float = 0.05
    """How long successes may wait in memory to be recorded together."""
    poll_min_s: float = 0.02
    """Shortest pause between claims: deliveries due meanwhile are claimed together."""
    poll_max_s: float = 0.2
    """Longest pause when nothing is due (a delivery scheduled meanwhile waits at most this)."""
    prepare_ahead_s: float = 30.0
    """Renditions of deliveries due within this are made ahead, so sends at due time are quick."""
    prepare_interval_s: float = 1.0


# The claim on PostgreSQL: one statement, kept as text so that a tick costs no statement
# building (the scheduler runs it many times a second). SKIP LOCKED: workers never wait on
# each other's rows; the RETURNING carries everything a send needs from the delivery.
PG_CLAIM = text(
    """
WITH due AS (
    SELECT id, status, item_id FROM deliveries
    WHERE ((status = 'scheduled' AND next_attempt_at <= :now)
           OR (status = 'sending' AND lease_until < :now))
      AND channel NOT IN (SELECT channel FROM channel_state WHERE status = 'needs_attention')
    ORDER BY next_attempt_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE deliveries AS d
SET status = 'sending', lease_until = :lease, attempts = d.attempts + 1
FROM due JOIN items AS i ON i.id = due.item_id
WHERE d.id = due.id
RETURNING d.*, due.status AS was, {item_columns}
""".format(item_columns=", ".join(f'i.{c.name} AS "item.{c.name}"' for c in items.c))
)

# Many successes recorded in one statement: one array per column, unnested side by side.
PG_SUCCEEDED = text("""
WITH v AS (
    SELECT * FROM unnest(
        CAST(:ids AS varchar[]), CAST(:leases AS timestamptz[]),
        CAST(:remote_ids AS varchar[]), CAST(:urls AS varchar[]), CAST(:seqs AS int[]),
        CAST(:event_ids AS varchar[]), CAST(:bodies AS text[])
    ) AS v(id, lease, remote_id, url, seq, event_id, body)
), done AS (
    UPDATE deliveries AS d
    SET status = 'succeeded', lease_until = NULL, remote_id = v.remote_id, url = v.url,
        reason = NULL, sent_at = :now, rendition_seq = v.seq
    FROM v
    WHERE d.id = v.id AND d.status = 'sending' AND d.lease_until = v.lease
    RETURNING d.id, d.item_id, d.channel
), streaks AS (
    UPDATE channel_state SET consecutive_failures = 0, updated_at = :now
    WHERE channel IN (SELECT channel FROM done) AND consecutive_failures > 0
), events AS (
    INSERT INTO outbox (event_id, type, version, body, created_at)
    SELECT v.event_id, :type, :version, v.body, :now FROM v JOIN done ON done.id = v.id
)
SELECT done.id, items.status AS item_status FROM done JOIN items ON items.id = done.item_id
""")


class _LeaseLost(Exception):
    """Another worker may own the delivery now: this one must not send it."""


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
        self.sleep = sleep or time.sleep
        self._renditions: dict[tuple[str, str, int], tuple[list[RenderedFile], int]] = {}
        self._render_locks: dict[tuple[str, str, int], threading.Lock] = {}
        self._paused: set[str] = set()
        """Channels that need attention, as of the last claim (or flipped since)."""
        self._done: list[tuple[dict[str, Any], SendResult, int]] = []
        self._done_lock = threading.Lock()
        self._flushed_at = 0.0
        self._flushing = False
        self._prepared_at = 0.0
        self._preparing = False
        self.next_due: datetime | None = None
        """When nothing was due at the last claim: when the next delivery is (None: none)."""

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
        """Take up to limit due deliveries for this worker, in one short transaction; returns
        them with their lease, their row and their item (so a send needs no further read).

        PostgreSQL: one statement (UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED) RETURNING),
        so any number of workers share the queue without taking the same row. SQLite:
        compare-and-set per row (one writer at a time anyway)."""
        now = self.clock()
        limit = limit or self.config.batch
        lease = now + timedelta(seconds=self.config.lease_s)
        d = deliveries.c
        with self.db.session() as s:
            rows: list[dict[str, Any]] = []
            found: dict[str, dict[str, Any]] = {}
            if not self.db.is_sqlite:
                params = {"now": now, "lease": lease, "limit": limit}
                for r in s.execute(PG_CLAIM, params).mappings():
                    row: dict[str, Any] = {}
                    item: dict[str, Any] = {}
                    for key, value in r.items():
                        if key.startswith("item."):
                            item[key[5:]] = value
                        else:
                            row[key] = value
                    rows.append(row)
                    found[item["id"]] = item
            else:
                for due in s.execute(self._due_query(now, limit)).all():
                    stmt = (
                        update(deliveries)
                        .where(d.id == due.id, d.status == due.status)
                        .values(status="sending", lease_until=lease, attempts=d.attempts + 1)
                    )
                    if due.status == "sending":  # compare-and-set on the old lease
                        stmt = stmt.where(d.lease_until == due.lease_until)
                    if s.execute(stmt).rowcount == 1:  # type: ignore[attr-defined]
                        fresh = s.execute(select(deliveries).where(d.id == due.id)).mappings().one()
                        rows.append({**fresh, "was": due.status})
            if not rows:
                self.next_due = _utc(
                    s.execute(
                        select(func.min(d.next_attempt_at)).where(d.status == "scheduled")
                    ).scalar()
                )
                return []
            if self.db.is_sqlite:
                item_ids = {r["item_id"] for r in rows}
                found = {
                    i["id"]: dict(i)
                    for i in s.execute(select(items).where(items.c.id.in_(item_ids))).mappings()
                }
        # The claim skips channels that need attention: those it took are not paused (an
        # operator may have resumed them since this worker saw them flip).
        self._paused -= {r["channel"] for r in rows}
        rows.sort(key=lambda r: _utc(r["next_attempt_at"]) or now)
        return [
            {
                "id": r["id"],
                "lease": lease,
                "recovering": r["was"] == "sending"
                or bool((r["progress"] or {}).get("check_first")),
                "row": r,
                "item": found[r["item_id"]],
            }
            for r in rows
        ]

    # --- one delivery ---------------------------------------------------------------------
    def process(self, claim: dict[str, Any], buffered: bool = False) -> str:
        """Render (once per item version and channel), transmit, and record the outcome.

        buffered: a success is kept in memory and recorded with others by flush() (one
        transaction for many); failures and postponements are recorded at once."""
        try:
            return self._process(claim, buffered)
        except Exception as exc:  # a bug must not kill the scheduler; the lease will expire
            log.exception("delivery %s failed unexpectedly", claim["id"])
            return self._transient(claim, f"internal error: {type(exc).__name__}: {exc}", None)

    def _process(self, claim: dict[str, Any], buffered: bool = False) -> str:
        d, item = claim["row"], claim["item"]
        if item["status"] == "withdrawn":
            return self._finish(claim, "cancelled", reason="the item was withdrawn")
        if item["status"] in ("draft", "in_review"):
            return self._postpone(claim, "waiting for the correction to be approved", 60)
        if d["channel"] in self._paused:  # flipped by an earlier delivery of this batch
            return self._postpone(claim, "the channel needs attention; waiting for an operator", 0)
        policy = CHANNELS[d["channel"]]
        files, sequence = self._rendition(d, item)
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
            result = self._transmit(transmitter, job, policy, claim)
        except _LeaseLost:
            log.warning("delivery %s: lease lost before sending; left to its next owner", d["id"])
            return "lost"
        except PermanentError as exc:
            return self._permanent(claim, exc.reason)
        except TransientError as exc:
            return self._transient(claim, exc.reason, exc.retry_after)
        if buffered:
            with self._done_lock:
                self._done.append((claim, result, sequence))
            return "succeeded"
        return self._succeeded(claim, result, sequence)

    def _lease_holds(self, claim: dict[str, Any]) -> bool:
        """An attempt starts only with at least half a lease ahead (so it ends before another
        worker may take the delivery over); a claim that waited longer (for its rendering, a
        retry) renews its lease first, or is left alone if another worker has taken it."""
        margin = timedelta(seconds=self.config.lease_s / 2)
        if claim["lease"] - self.clock() >= margin:
            return True
        lease = self.clock() + timedelta(seconds=self.config.lease_s)
        with self.db.session() as s:
            renewed = s.execute(
                update(deliveries).where(self._owned(claim)).values(lease_until=lease)
            ).rowcount
        if renewed == 1:
            claim["lease"] = lease
        return renewed == 1

    def _transmit(
        self, transmitter: Transmitter, job: Job, policy: ChannelPolicy, claim: dict[str, Any]
    ) -> SendResult:
        state = {"check_first": claim["recovering"]}

        def attempt() -> SendResult:
            if not self._lease_holds(claim):
                raise _LeaseLost(job.delivery_id)
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
        with self._done_lock:
            lock = self._render_locks.setdefault(cache_key, threading.Lock())
        with lock:  # concurrent sends of one item wait for one rendering, not race to insert
            result = self._load_or_render(cache_key, d, item)
        with self._done_lock:
            self._render_locks.pop(cache_key, None)
        return result

    def _load_or_render(
        self, cache_key: tuple[str, str, int], d: dict[str, Any], item: dict[str, Any]
    ) -> tuple[list[RenderedFile], int]:
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
        # The number is taken in its own short transaction, so renderings of different items
        # do not queue behind one counter row; a rendering lost to a race leaves a gap.
        with self.db.session() as s:
            seq = self._next_sequence(s, d["channel"])
        files = formatter_for(d["channel"])(item, _with_seq(ctx, seq))
        try:
            with self.db.session() as s:
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
            return self._load_or_render(cache_key, d, item)  # another worker rendered it first
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
            try:
                with s.begin_nested():
                    s.execute(insert(channel_sequences).values(channel=channel, last=0))
            except IntegrityError:
                pass  # another worker created the counter first
            return self._next_sequence(s, channel)
        return int(seq)

    def _context(self, d: dict[str, Any], item: dict[str, Any]) -> RenderContext:
        asset = None
        digest: list[dict[str, Any]] = []
        if item.get("asset_id") or d["channel"] == "ebulletin":
            with self.db.session() as s:
                asset, digest = self._context_rows(s, d, item)
        options = dict(d.get("options") or {})
        return RenderContext(
            sequence=0,
            now=self.clock(),
            portal_url=self.config.portal_url,
            options=options,
            asset=asset,
            digest=digest,
        )

    def _context_rows(
        self, s: Any, d: dict[str, Any], item: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The media asset and the e-bulletin's digest a rendering needs."""
        asset = None
        digest: list[dict[str, Any]] = []
        if item.get("asset_id"):
            row = (
                s.execute(select(media_assets).where(media_assets.c.asset_id == item["asset_id"]))
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
        return asset, digest

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
        with self.db.session() as s:
            recorded = self._record_successes(s, [(claim, result, sequence)])
        return "succeeded" if recorded else "lost"

    def flush(self) -> int:
        """Record the buffered successes in one transaction; returns how many were recorded."""
        with self._done_lock:
            done, self._done = self._done, []
        self._flushed_at = time.monotonic()
        if not done:
            return 0
        try:
            with self.db.session() as s:
                return self._record_successes(s, done)
        except Exception:  # the leases expire; recovery asks the platform (find()), no resend
            log.exception("could not record %d successful deliveries", len(done))
            return 0

    def prepare(self) -> int:
        """Make ahead the renditions of deliveries due soon (rendering is the slow part of a
        first send). Not for the e-bulletin, whose digest is the month up to its due time."""
        horizon = self.clock() + timedelta(seconds=self.config.prepare_ahead_s)
        d = deliveries.c
        with self.db.session() as s:
            pairs = s.execute(
                select(d.item_id, d.channel, func.min(d.due_at), func.min(d.id))
                .where(
                    d.status == "scheduled",
                    d.next_attempt_at <= horizon,
                    d.channel != "ebulletin",
                )
                .group_by(d.item_id, d.channel)
                .limit(self.config.batch)
            ).all()
            wanted = [p for p in pairs if p[1] in CHANNELS]
            found = {
                i["id"]: dict(i)
                for i in s.execute(
                    select(items).where(
                        items.c.id.in_({p[0] for p in wanted}),
                        items.c.status.in_(("approved", "scheduled", "published")),
                    )
                ).mappings()
            }
            options: dict[str, Any] = {
                r.id: r.options
                for r in s.execute(select(d.id, d.options).where(d.id.in_([p[3] for p in wanted])))
            }
        made = 0
        for item_id, channel, due_at, delivery_id in wanted:
            item = found.get(item_id)
            if item is None or (item_id, channel, item["version"]) in self._renditions:
                continue
            row = {"channel": channel, "due_at": due_at, "options": options.get(delivery_id)}
            try:
                self._rendition(row, item)
                made += 1
            except Exception:  # the send will try again and report it
                log.exception("could not prepare the %s rendition of %s", channel, item_id)
        return made

    def _prepare_in_background(self) -> None:
        try:
            self.prepare()
        except Exception:
            log.exception("preparing renditions failed")
        finally:
            self._prepared_at = time.monotonic()
            self._preparing = False

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        finally:
            self._flushing = False

    def _record_successes(self, s: Any, done: list[tuple[dict[str, Any], SendResult, int]]) -> int:
        """Mark deliveries succeeded (only those this worker still owns), with their events,
        the channels' failure streaks reset and the items' first publication. PostgreSQL: one
        statement for any number of deliveries; SQLite: a statement each."""
        now = self.clock()
        events = self._events(
            s, "publishing.delivery_succeeded",
            [{"delivery_id": c["id"], "item_id": c["row"]["item_id"],
              "channel": c["row"]["channel"], "remote_id": r.remote_id, "url": r.url}
             for c, r, _ in done],
        )  # fmt: skip
        if self.db.is_sqlite:
            owned: dict[str, str] = {}
            outbox, _ = get_event_tables(self.db.metadata)
            for (claim, result, seq), event in zip(done, events, strict=True):
                upd = (
                    update(deliveries)
                    .where(self._owned(claim))
                    .values(status="succeeded", lease_until=None, remote_id=result.remote_id,
                            url=result.url, reason=None, sent_at=now, rendition_seq=seq)
                )  # fmt: skip
                if s.execute(upd).rowcount == 1:
                    s.execute(insert(outbox).values(**event, created_at=now))
                    owned[claim["id"]] = s.execute(
                        select(items.c.status).where(items.c.id == claim["row"]["item_id"])
                    ).scalar_one()
            for channel in sorted({c["row"]["channel"] for c, _, _ in done if c["id"] in owned}):
                self._channel_ok(s, channel, now)
        else:
            params = {
                "now": now,
                "ids": [c["id"] for c, _, _ in done],
                "leases": [c["lease"] for c, _, _ in done],
                "remote_ids": [r.remote_id for _, r, _ in done],
                "urls": [r.url for _, r, _ in done],
                "seqs": [q for _, _, q in done],
                "event_ids": [e["event_id"] for e in events],
                "bodies": [e["body"] for e in events],
                "type": "publishing.delivery_succeeded",
                "version": events[0]["version"],
            }
            owned = {r.id: r.item_status for r in s.execute(PG_SUCCEEDED, params)}
        if owned:
            s.info["events_added"] = True
        first_channel: dict[str, str] = {}
        for c, _, _ in done:
            if c["id"] not in owned:
                log.warning("delivery %s: lease lost before recording success", c["id"])
            elif owned[c["id"]] in ("scheduled", "approved"):
                first_channel.setdefault(c["row"]["item_id"], c["row"]["channel"])
        mark_published_many(s, first_channel)
        return len(owned)

    @staticmethod
    def _events(s: Any, event_type: str, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Outbox rows (as Database.record_event writes them) for many events of one type."""
        rows = []
        for payload in payloads:
            env = Envelope.new(
                event_type, payload, producer=s.info.get("producer", "unknown"),
                correlation_id=s.info.get("correlation_id"),
            )  # fmt: skip
            rows.append({"event_id": env.id, "type": env.type, "version": env.version,
                         "body": env.to_json()})  # fmt: skip
        return rows

    def _transient(self, claim: dict[str, Any], reason: str, retry_after: float | None) -> str:
        reason = redact_secrets(reason)  # stored, evented and shown to every signed-in role
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
        reason = redact_secrets(reason)
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
            self._paused.add(channel)
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
        """Record what finished, then claim as many due deliveries as the pool has free
        workers (one statement) and start them; a slow send never holds back the next due
        ones (no batch barrier). Successes are recorded together by the next flush."""
        with self._done_lock:
            pending = len(self._done)
        if (
            pending
            and not self._flushing
            and (
                pending >= self.config.batch
                or time.monotonic() - self._flushed_at >= self.config.flush_interval_s
            )
        ):
            # Recorded beside the sends, so that a slow commit never delays the next claim.
            self._flushing = True
            if pool.free() > 0:
                pool.spawn_n(self._flush_in_background)
            else:
                self._flush_in_background()
        if (
            not self._preparing
            and time.monotonic() - self._prepared_at >= self.config.prepare_interval_s
            and pool.free() > 1
        ):
            self._preparing = True
            pool.spawn_n(self._prepare_in_background)
        free = pool.free()
        if free <= 0:
            return 0
        claimed = self.claim(min(free, self.config.batch))
        for c in claimed:
            pool.spawn_n(self.process, c, True)
        return len(claimed)

    def pause(self, claimed: int, free: int) -> float:
        """How long a scheduler loop may wait before its next feed(): until the next due
        delivery when nothing was due, a short batching pause otherwise."""
        cfg = self.config
        if claimed and free > 0:
            return cfg.poll_min_s  # took all that was due
        if claimed or free <= 0:
            return cfg.poll_min_s / 4  # more may be due, or sends are finishing
        if self.next_due is None:
            return cfg.poll_max_s
        wait = (self.next_due - self.clock()).total_seconds()
        return min(max(wait, cfg.poll_min_s / 4), cfg.poll_max_s)

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
