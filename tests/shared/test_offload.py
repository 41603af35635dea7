"""shared.offload under eventlet (as every service runs): native work in real OS threads, two
calls at once, and the hub turning meanwhile."""

from __future__ import annotations

import eventlet
import pytest
from eventlet import patcher

from shared.offload import in_parallel, off_hub

_time = patcher.original("time")  # a real, blocking sleep: what a native call looks like
_threading = patcher.original("threading")


def blocking(seconds: float, result: str) -> tuple[str, int]:
    _time.sleep(seconds)
    return result, _threading.get_ident()


def test_both_run_at_once_in_real_threads_while_the_hub_turns() -> None:
    ticks = []

    def ticker() -> None:
        for _ in range(20):
            ticks.append(1)
            eventlet.sleep(0.01)

    green = eventlet.spawn(ticker)
    t0 = _time.monotonic()
    (a, a_thread), (b, b_thread) = in_parallel(
        lambda: blocking(0.3, "facets"), lambda: blocking(0.3, "page")
    )
    elapsed = _time.monotonic() - t0
    green.wait()
    assert (a, b) == ("facets", "page")
    assert elapsed < 0.5, elapsed  # one after the other would take 0.6 s
    assert a_thread != b_thread
    assert _threading.get_ident() not in (a_thread, b_thread)
    assert len(ticks) >= 10  # the hub went on while both blocked


def test_off_hub_returns_the_result_and_leaves_the_hub_free() -> None:
    ticks = []
    green = eventlet.spawn(lambda: [ticks.append(eventlet.sleep(0.01)) for _ in range(10)])
    result, thread = off_hub(blocking, 0.2, "done")
    green.wait()
    assert result == "done" and thread != _threading.get_ident()
    assert len(ticks) >= 5


def test_an_error_is_raised_only_after_both_are_done() -> None:
    finished = []

    def slow() -> str:
        _time.sleep(0.2)
        finished.append("slow")
        return "slow"

    def failing() -> str:
        raise ValueError("index error")

    with pytest.raises(ValueError, match="index error"):
        in_parallel(slow, failing)
    assert finished == ["slow"]
