"""Ticket states that say what happened, and which moves between them are allowed."""

from __future__ import annotations

from enum import StrEnum

from shared.errors import Conflict


class Status(StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting_for_citizen"
    ANSWERED = "answered"
    CLOSED = "closed"
    REOPENED = "reopened"
    MERGED = "merged"


OPEN = frozenset(
    {Status.RECEIVED, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING, Status.REOPENED}
)
# Where the answer clock runs (it is paused while waiting for the citizen).
CLOCK_RUNNING = frozenset({Status.RECEIVED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REOPENED})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.ASSIGNED, Status.MERGED, Status.CLOSED}),
    Status.ASSIGNED: frozenset(
        {Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING, Status.ANSWERED, Status.MERGED}
    ),
    Status.IN_PROGRESS: frozenset(
        {Status.ASSIGNED, Status.WAITING, Status.ANSWERED, Status.MERGED}
    ),
    Status.WAITING: frozenset(
        {Status.IN_PROGRESS, Status.ASSIGNED, Status.ANSWERED, Status.CLOSED, Status.MERGED}
    ),
    Status.ANSWERED: frozenset({Status.CLOSED, Status.REOPENED}),
    Status.CLOSED: frozenset({Status.REOPENED}),
    Status.REOPENED: frozenset(
        {Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING, Status.ANSWERED, Status.MERGED}
    ),
    Status.MERGED: frozenset(),  # left only by unmerge, which restores the earlier state
}

LABELS_VI: dict[Status, str] = {
    Status.RECEIVED: "Đã tiếp nhận",
    Status.ASSIGNED: "Đã chuyển đơn vị xử lý",
    Status.IN_PROGRESS: "Đang xử lý",
    Status.WAITING: "Chờ người dân bổ sung",
    Status.ANSWERED: "Đã trả lời",
    Status.CLOSED: "Đã đóng",
    Status.REOPENED: "Mở lại",
    Status.MERGED: "Đã gộp vào phản ánh khác",
}


def check_transition(current: str, target: Status) -> None:
    """Refuse a move the workflow does not allow, saying what is allowed instead."""
    here = Status(current)
    if target not in TRANSITIONS[here]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[here])) or "none"
        raise Conflict(
            f"Không thể chuyển phản ánh từ '{LABELS_VI[here]}' sang '{LABELS_VI[target]}' / "
            f"a ticket cannot go from {here.value} to {target.value} (allowed: {allowed})",
            "status",
        )
