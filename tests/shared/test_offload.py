"""shared.offload under eventlet (as every service runs): native work in real OS threads, two
calls at once, and the hub turning meanwhile."""

from __future__ import annotations

import eventlet
import pytest
from eventlet import patcher

from shared.offload import in_parallel, off_hub

_time = patcher.original("time")  # a real, blocking sleep: what a native call looks like
_threading = patcher.original("threading")


def blocking(seconds: float, result: str) -> tuple[str, int, float, float]:
    began = _time.monotonic()
    _time.sleep(seconds)
    return result, _threading.get_ident(), began, _time.monotonic()


def _ticker(ticks: list[int]) -> None:
    for _ in range(1000):
        ticks.append(1)
        eventlet.sleep(0.01)


def test_both_run_at_once_in_real_threads_while_the_hub_turns() -> None:
    ticks: list[int] = []
    green = eventlet.spawn(_ticker, ticks)
    (a, a_thread, a_began, a_ended), (b, b_thread, b_began, b_ended) = in_parallel(
        lambda: blocking(0.3, "facets"), lambda: blocking(0.3, "page")
    )
    ticked = len(ticks)
    green.kill()
    assert (a, b) == ("facets", "page")
    assert a_began < b_ended and b_began < a_ended  # the two sleeps overlapped in time
    assert a_thread != b_thread
    assert _threading.get_ident() not in (a_thread, b_thread)
    assert ticked >= 5  # the hub went on while both blocked (30 ticks if nothing else ran)


def test_off_hub_returns_the_result_and_leaves_the_hub_free() -> None:
    ticks: list[int] = []
    green = eventlet.spawn(_ticker, ticks)
    result, thread, _, _ = off_hub(blocking, 0.2, "done")
    ticked = len(ticks)
    green.kill()
    assert result == "done" and thread != _threading.get_ident()
    assert ticked >= 5  # 20 if nothing else ran; 1 if the hub had been blocked


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
