"""The garbage collector in a long-running service process: freeze what start-up made.

A started service holds a large heap that lives as long as the process (modules, classes, route
tables, pydantic and SQLAlchemy models, nameko's extensions). CPython's full (generation 2)
collection walks all of it, and under load one ran every few seconds: in the gateway ~100 ms
every ~2.5 s at 450 requests/s, a pause that every request in flight waits through (it was the
intake benchmark's p99). gc.freeze() moves everything alive at that moment to a permanent
generation the collector no longer walks, so later full collections see only what was made since.

loa's runner (`loa start`, `loa serve`) calls freeze_started_heap() shortly after the services
started; later calls do nothing.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)
_frozen = False


def freeze_started_heap() -> bool:
    """Freeze every object alive now and collect young objects less often; True the first
    time in a process (later calls do nothing)."""
    global _frozen
    if _frozen:
        return False
    _frozen = True
    started = time.perf_counter()
    # No gc.collect() first: it would be the very full walk this avoids (~0.3 s), and the
    # little start-up garbage among the frozen objects is only memory.
    gc.freeze()
    # Young collections every 700 allocations ran several times per HTTP request and promoted
    # the objects of requests still in flight; every 20000 most of them have died already.
    gc.set_threshold(20_000, 20, 20)
    log.info(
        "froze %d start-up objects out of the collector's walks in %.0f ms",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )
    return True
