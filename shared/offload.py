"""Blocking native work (argon2, tantivy, hashing a local file) off the eventlet hub.

Under nameko every service of a process shares one OS thread; a call into native code that takes
milliseconds stops them all, broker heartbeats included. Such code releases the GIL, so running
it in a real OS thread (eventlet's tpool) keeps the hub turning and lets two such calls overlap on
two cores. Without eventlet (benchmarks, scripts) the same calls run in plain threads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

A = TypeVar("A")
B = TypeVar("B")

_POOL: ThreadPoolExecutor | None = None


def _under_eventlet() -> bool:
    try:
        import eventlet.patcher
    except ImportError:  # pragma: no cover - eventlet comes with nameko
        return False
    return bool(eventlet.patcher.is_monkey_patched("thread"))


def off_hub(fn: Callable[..., A], *args: Any) -> A:
    """`fn(*args)` in a real OS thread under eventlet (the calling green thread waits, the others
    run); a plain call otherwise."""
    if _under_eventlet():
        from eventlet import tpool

        return tpool.execute(fn, *args)  # type: ignore[no-any-return]
    return fn(*args)


def in_parallel(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """Both at once, each in its own OS thread; returns (or raises either's error) only when
    both are done."""
    if _under_eventlet():
        import eventlet
        from eventlet import tpool

        other = eventlet.spawn(tpool.execute, first)
        try:
            b = tpool.execute(second)
        finally:
            a = other.wait()
        return a, b
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="offload")
    future = _POOL.submit(first)
    try:
        b = second()
    finally:
        a = future.result()
    return a, b
