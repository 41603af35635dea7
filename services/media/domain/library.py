"""Assets, their transcode jobs and renditions: the rules of their states, on a DB session.

One job row per (asset, profile) for ever: a retry bumps its attempt, and a job message whose
attempt is not the row's is stale and ignored. That is what makes retries duplicate-free.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from services.media.models import assets, jobs, renditions
from shared.errors import Conflict, InvalidInput, NotFound
from shared.ids import new_id

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
RETRYABLE = (FAILED, CANCELLED)
STATUSES = ("processing", "ready", "partial", "deleted")


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def find_by_sha256(session: Session, sha256: str) -> str | None:
    return session.execute(select(assets.c.id).where(assets.c.sha256 == sha256)).scalar()


def create_asset(
    session: Session,
    *,
    asset_id: str,
    title: str,
    filename: str,
    content_type: str,
    size: int,
    sha256: str,
    original_key: str,
    probe: dict[str, Any],
    upload_id: str,
    options: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """details: description, tags, unit_id (checked by domain.details)."""
    video = probe.get("video") or {}
    more = details or {}
    at = now()
    session.execute(
        assets.insert().values(
            id=asset_id,
            status="processing",
            title=title[:500],
            description=more.get("description", ""),
            tags=more.get("tags", []),
            unit_id=more.get("unit_id"),
            filename=filename[:500],
            content_type=content_type[:200],
            size=size,
            sha256=sha256,
            original_key=original_key,
            kind="video" if video else "audio",
            duration_s=probe.get("duration_s"),
            width=video.get("display_width"),
            height=video.get("display_height"),
            probe=probe,
            options=options or {},
            upload_id=upload_id,
            created_at=at,
            updated_at=at,
        )
    )


def add_job(session: Session, asset_id: str, profile: str) -> dict[str, Any]:
    job_id = new_id()
    session.execute(
        jobs.insert().values(
            id=job_id,
            asset_id=asset_id,
            profile=profile,
            state=QUEUED,
            attempt=1,
            percent=0.0,
            queued_at=now(),
        )
    )
    return {"job_id": job_id, "asset_id": asset_id, "profile": profile, "attempt": 1}


def job_row(session: Session, job_id: str) -> Any:
    return session.execute(select(jobs).where(jobs.c.id == job_id)).first()


def claim(session: Session, job_id: str, attempt: int, token: str) -> Any | None:
    """Mark the job running if this message is its current attempt and it still wants running.

    A job found 'running' is claimed again: its worker died (the broker redelivered). The new
    claim token makes any older run of the same attempt, if it was in fact still alive, stop
    at its next progress check and never commit (finish_job wants the current claim).
    """
    done = session.execute(
        update(jobs)
        .where(
            jobs.c.id == job_id,
            jobs.c.attempt == attempt,
            jobs.c.state.in_((QUEUED, RUNNING)),
        )
        .values(
            state=RUNNING,
            claim=token,
            started_at=now(),
            percent=0.0,
            speed=None,
            eta_s=None,
            reason=None,
        )
    )
    if not done.rowcount:
        return None
    return job_row(session, job_id)


def still_wanted(session: Session, job_id: str, attempt: int, token: str | None = None) -> bool:
    row = session.execute(
        select(jobs.c.state, jobs.c.attempt, jobs.c.claim).where(jobs.c.id == job_id)
    ).first()
    return (
        row is not None
        and row.state == RUNNING
        and row.attempt == attempt
        and (token is None or row.claim == token)
    )


def set_progress(
    session: Session,
    job_id: str,
    attempt: int,
    percent: float,
    speed: float | None,
    eta: float | None,
) -> None:
    session.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.attempt == attempt, jobs.c.state == RUNNING)
        .values(percent=percent, speed=speed, eta_s=eta)
    )


def finish_job(
    session: Session,
    job_id: str,
    attempt: int,
    state: str,
    *,
    reason: str | None = None,
    generation: str | None = None,
    token: str | None = None,
) -> bool:
    """Only the current attempt's current claim (when token is given) can finish a job."""
    values: dict[str, Any] = {"state": state, "finished_at": now(), "reason": reason}
    if state == DONE:
        values.update(percent=100.0, eta_s=0.0, generation=generation)
    conds = [jobs.c.id == job_id, jobs.c.attempt == attempt, jobs.c.state == RUNNING]
    if token is not None:
        conds.append(jobs.c.claim == token)
    done = session.execute(update(jobs).where(*conds).values(**values))
    return bool(done.rowcount)


def replace_renditions(
    session: Session, asset_id: str, profile: str, items: list[dict[str, Any]]
) -> None:
    session.execute(
        delete(renditions).where(renditions.c.asset_id == asset_id, renditions.c.profile == profile)
    )
    at = now()
    for item in items:
        session.execute(
            renditions.insert().values(
                id=new_id(), asset_id=asset_id, profile=profile, created_at=at, **item
            )
        )


def settle_asset(session: Session, asset_id: str) -> str | None:
    """Once no job is left to run: ready (all done) or partial. Returns the new status or None."""
    states = [
        r.state for r in session.execute(select(jobs.c.state).where(jobs.c.asset_id == asset_id))
    ]
    if not states or any(s in (QUEUED, RUNNING) for s in states):
        return None
    status = "ready" if all(s == DONE for s in states) else "partial"
    done = session.execute(
        update(assets)
        .where(assets.c.id == asset_id, assets.c.status != "deleted")
        .values(status=status, updated_at=now(), version=assets.c.version + 1)
    )
    return status if done.rowcount else None


def asset_row(session: Session, asset_id: str) -> Any:
    row = session.execute(select(assets).where(assets.c.id == asset_id)).first()
    if row is None:
        raise NotFound("Không có tài sản này / no such asset", "asset_id")
    return row


def queue_positions(session: Session) -> dict[str, int]:
    """Place of every queued job in the shared queue, 1 = next to run (oldest first)."""
    rows = session.execute(
        select(jobs.c.id).where(jobs.c.state == QUEUED).order_by(jobs.c.queued_at, jobs.c.id)
    )
    return {r.id: i + 1 for i, r in enumerate(rows)}


def job_view(row: Any, positions: dict[str, int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "profile": row.profile,
        "state": row.state,
        "attempt": row.attempt,
        "percent": row.percent,
        "speed": row.speed,
        "eta_s": row.eta_s,
        "reason": row.reason,
        "queue_position": positions.get(row.id),
        "queued_at": iso(row.queued_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
    }


def asset_summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "title": row.title,
        "description": row.description,
        "tags": list(row.tags or []),
        "unit_id": row.unit_id,
        "version": row.version,
        "filename": row.filename,
        "kind": row.kind,
        "size": row.size,
        "sha256": row.sha256,
        "duration_s": row.duration_s,
        "width": row.width,
        "height": row.height,
        "created_at": iso(row.created_at),
        "deleted_at": iso(row.deleted_at),
    }


def asset_detail(session: Session, asset_id: str) -> dict[str, Any]:
    row = asset_row(session, asset_id)
    positions = queue_positions(session)
    job_rows = session.execute(
        select(jobs).where(jobs.c.asset_id == asset_id).order_by(jobs.c.queued_at)
    )
    rend_rows = session.execute(
        select(renditions)
        .where(renditions.c.asset_id == asset_id)
        .order_by(renditions.c.profile, renditions.c.name)
    )
    return {
        **asset_summary(row),
        "original_key": row.original_key,
        "probe": row.probe,
        "options": row.options or {},
        "jobs": [job_view(j, positions) for j in job_rows],
        "renditions": [
            {
                "profile": r.profile,
                "name": r.name,
                "key": r.key,
                "content_type": r.content_type,
                "size": r.size,
                "info": r.info,
            }
            for r in rend_rows
        ],
    }


def list_assets(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    q: str | None = None,
    include_deleted: bool = False,
    limit: int = 50,
    before: str | None = None,
) -> dict[str, Any]:
    """Newest first, filtered; `before` is the id of the last asset of the previous page."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", "status")
    if kind is not None and kind not in ("video", "audio"):
        raise InvalidInput("kind must be video or audio", "kind")
    if not 1 <= limit <= 200:
        raise InvalidInput("limit must be between 1 and 200", "limit")
    query = select(assets)
    conds = []
    if status:
        conds.append(assets.c.status == status)
    elif not include_deleted:
        conds.append(assets.c.status != "deleted")
    if kind:
        conds.append(assets.c.kind == kind)
    if q:
        like = f"%{q.lower()}%"
        conds.append(
            or_(func.lower(assets.c.title).like(like), func.lower(assets.c.filename).like(like))
        )
    if before:
        anchor = asset_row(session, before)
        conds.append(
            or_(
                assets.c.created_at < anchor.created_at,
                and_(assets.c.created_at == anchor.created_at, assets.c.id < anchor.id),
            )
        )
    if conds:
        query = query.where(and_(*conds))
    rows = session.execute(
        query.order_by(assets.c.created_at.desc(), assets.c.id.desc()).limit(limit + 1)
    ).all()
    items = [asset_summary(r) for r in rows[:limit]]
    return {"items": items, "next": items[-1]["id"] if len(rows) > limit else None}


def retry(session: Session, asset_id: str, profiles: list[str] | None) -> list[dict[str, Any]]:
    """Queue failed or cancelled jobs again (all of them if profiles is None): new attempt each."""
    row = asset_row(session, asset_id)
    if row.status == "deleted":
        raise Conflict("Tài sản đã bị xoá / the asset was deleted", "asset_id")
    query = select(jobs).where(jobs.c.asset_id == asset_id)
    if profiles:
        query = query.where(jobs.c.profile.in_(profiles))
    found = session.execute(query).all()
    if profiles:
        missing = set(profiles) - {j.profile for j in found}
        if missing:
            raise NotFound(f"the asset has no job for {', '.join(sorted(missing))}", "profiles")
        busy = [j.profile for j in found if j.state not in RETRYABLE]
        if busy:
            raise Conflict(
                f"Chỉ thử lại việc lỗi hoặc đã huỷ / only failed or cancelled jobs can be retried "
                f"({', '.join(busy)} is not)",
                "profiles",
            )
    messages = []
    for j in found:
        if j.state not in RETRYABLE:
            continue
        messages.append(_requeue(session, asset_id, j))
    if messages:
        session.execute(
            update(assets)
            .where(assets.c.id == asset_id)
            .values(status="processing", updated_at=now())
        )
    return messages


def cancel(session: Session, asset_id: str, profiles: list[str] | None) -> list[str]:
    """Cancel queued or running jobs; a running ffmpeg notices within a second and stops."""
    asset_row(session, asset_id)
    query = select(jobs).where(jobs.c.asset_id == asset_id, jobs.c.state.in_((QUEUED, RUNNING)))
    if profiles:
        query = query.where(jobs.c.profile.in_(profiles))
    cancelled = []
    for j in session.execute(query):
        session.execute(
            update(jobs)
            .where(
                jobs.c.id == j.id, jobs.c.attempt == j.attempt, jobs.c.state.in_((QUEUED, RUNNING))
            )
            .values(state=CANCELLED, finished_at=now(), reason="Đã huỷ / cancelled by an editor")
        )
        cancelled.append(j.profile)
    return cancelled


def mark_deleted(session: Session, asset_id: str) -> Any:
    """Keep the id (links and events still resolve to 'deleted'); drop everything else."""
    row = asset_row(session, asset_id)
    if row.status == "deleted":
        return None
    session.execute(
        update(jobs)
        .where(jobs.c.asset_id == asset_id, jobs.c.state.in_((QUEUED, RUNNING)))
        .values(
            state=CANCELLED, finished_at=now(), reason="Tài sản đã bị xoá / the asset was deleted"
        )
    )
    session.execute(delete(renditions).where(renditions.c.asset_id == asset_id))
    session.execute(
        update(assets)
        .where(assets.c.id == asset_id)
        .values(
            status="deleted",
            sha256=None,
            original_key=None,
            deleted_at=now(),
            updated_at=now(),
            version=assets.c.version + 1,
        )
    )
    return row


def update_details(session: Session, asset_id: str, changes: dict[str, Any]) -> Any:
    """Apply checked details (title, description, tags, unit_id); the row after, or None when
    nothing changed. A change is a new version of the asset for the consumers of its events."""
    row = asset_row(session, asset_id)
    if row.status == "deleted":
        raise Conflict("Tài sản đã bị xoá / the asset was deleted", "asset_id")
    changed = {k: v for k, v in changes.items() if getattr(row, k) != v}
    if not changed:
        return None
    session.execute(
        update(assets)
        .where(assets.c.id == asset_id)
        .values(**changed, updated_at=now(), version=assets.c.version + 1)
    )
    return asset_row(session, asset_id)


def set_subtitles_text(session: Session, asset_id: str, text: str) -> None:
    session.execute(update(assets).where(assets.c.id == asset_id).values(subtitles_text=text))


def set_probe(session: Session, asset_id: str, probe: dict[str, Any]) -> None:
    """Complete the stored probe (the loudness measured after the asset was made)."""
    session.execute(
        update(assets).where(assets.c.id == asset_id).values(probe=probe, updated_at=now())
    )


def set_options(session: Session, asset_id: str, options: dict[str, Any]) -> dict[str, Any]:
    """Replace the clip's options; returns the previous ones."""
    row = asset_row(session, asset_id)
    if row.status == "deleted":
        raise Conflict("Tài sản đã bị xoá / the asset was deleted", "asset_id")
    session.execute(
        update(assets).where(assets.c.id == asset_id).values(options=options, updated_at=now())
    )
    return dict(row.options or {})


def rerun(session: Session, asset_id: str, profiles: list[str]) -> list[dict[str, Any]]:
    """Make these profiles again (their inputs changed: subtitles, logo): a new attempt of each
    existing job whatever its state. A run in progress is superseded: it stops at its next
    progress check and its outputs never become visible; the published ones stay until the new
    attempt replaces them."""
    found = session.execute(
        select(jobs).where(jobs.c.asset_id == asset_id, jobs.c.profile.in_(profiles))
    ).all()
    messages = []
    for j in found:
        messages.append(_requeue(session, asset_id, j))
    if messages:
        session.execute(
            update(assets)
            .where(assets.c.id == asset_id, assets.c.status != "deleted")
            .values(status="processing", updated_at=now())
        )
    return messages


def _requeue(session: Session, asset_id: str, job: Any) -> dict[str, Any]:
    """A new attempt of a job, back in the queue from zero; returns its work-queue message.
    The attempt number in the WHERE clause makes a concurrent requeue of the same job a no-op."""
    session.execute(
        update(jobs)
        .where(jobs.c.id == job.id, jobs.c.attempt == job.attempt)
        .values(
            state=QUEUED,
            attempt=job.attempt + 1,
            percent=0.0,
            speed=None,
            eta_s=None,
            reason=None,
            queued_at=now(),
            started_at=None,
            finished_at=None,
        )
    )
    return {
        "job_id": job.id,
        "asset_id": asset_id,
        "profile": job.profile,
        "attempt": job.attempt + 1,
    }
