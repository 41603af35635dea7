"""Errors crossing nameko RPC arrive as themselves: a NotFound raised in media is a NotFound in the
gateway, with its detail and field, not an opaque RemoteError."""

from __future__ import annotations

from nameko.exceptions import RemoteError, deserialize_to_instance

from shared.errors import ALL_ERRORS, LoaError, Unavailable

for _cls in ALL_ERRORS:
    deserialize_to_instance(_cls)


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def register_error_subclasses() -> None:
    """Register every LoaError subclass imported so far (service-specific errors)."""
    for cls in _all_subclasses(LoaError):
        deserialize_to_instance(cls)


def as_loa_error(exc: BaseException) -> LoaError | None:
    """A user-facing error for an RPC failure, or None if it is a bug (→ 500)."""
    if isinstance(exc, LoaError):
        return exc
    if isinstance(exc, RemoteError):
        for cls in [*ALL_ERRORS, *_all_subclasses(LoaError)]:
            if cls.__name__ == exc.exc_type:
                return cls(str(exc.value))
    return None


__all__ = ["Unavailable", "as_loa_error", "register_error_subclasses"]
