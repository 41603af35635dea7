"""The one interface every channel's transmitter implements, and the errors they speak.

A transmitter must tell three outcomes apart, because the scheduler acts differently on each:
TransientError (try again later: timeouts before sending, 429, 5xx), PermanentError (stop and say
why: expired token, rejected content) and UnknownOutcome (the request may have been applied:
check with the platform through find() before any retry, never repeat blindly).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.logging import redact_secrets


@dataclass(frozen=True)
class RenderedFile:
    """One file of a rendition: inline text, or bytes kept in object storage (store_key)."""

    name: str
    content_type: str
    text: str | None = None
    store_key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Job:
    delivery_id: str
    idempotency_key: str
    channel: str
    item: dict[str, Any]
    files: list[RenderedFile]
    options: dict[str, Any]
    due_at: datetime
    sequence: int
    progress: dict[str, Any] = field(default_factory=dict)
    save_progress: Callable[[dict[str, Any]], None] = lambda _p: None
    claimed_at: datetime | None = None

    def file(self, name: str) -> RenderedFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)

    def checkpoint(self, **values: Any) -> None:
        """Remember how far a long send got (e.g. an upload session), across crashes."""
        self.progress.update(values)
        self.save_progress(dict(self.progress))


@dataclass(frozen=True)
class SendResult:
    remote_id: str | None = None
    url: str | None = None


class TransmitError(Exception):
    """reason is stored on the delivery and shown to staff: secrets are redacted from it."""

    def __init__(self, reason: str) -> None:
        reason = redact_secrets(reason)
        super().__init__(reason)
        self.reason = reason


class TransientError(TransmitError):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class UnknownOutcome(TransientError):
    """The platform may or may not have applied the request (a read timeout, a dropped reply)."""


class PermanentError(TransmitError):
    pass


class Transmitter(ABC):
    channel: str = ""

    @abstractmethod
    def send(self, job: Job) -> SendResult:
        """Deliver the rendition; raise one of the errors above when it did not."""

    @abstractmethod
    def find(self, job: Job) -> SendResult | None:
        """Whether this delivery already reached the platform (for an unknown outcome)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
