"""Group commit for the gateway: concurrent requests of this process ride in one call.

A request hands its item to a Batcher and waits. A flusher green thread sends what has gathered
as one call (one RPC, one transaction on the other side) and hands each waiting request its own
answer. While a batch is out, the next one gathers, so batches grow with the load by themselves:
one request alone goes out at once (after `window_s`), a busy gateway sends tens per call.

Nothing is acknowledged that the callee did not answer: a failed call fails every item of its
batch with the same exception, exactly as if each had made the call alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import eventlet
from eventlet.event import Event
from eventlet.semaphore import Semaphore

from shared.errors import Unavailable

I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")  # result

Send = Callable[[list[I]], Sequence[R]]


@dataclass
class _Slot(Generic[I, R]):
    item: I
    send: Send[I, R]
    done: Event = field(default_factory=Event)


class Batcher(Generic[I, R]):
    """Gather items from concurrent green threads; send them `max_items` at a time.

    send(items) must return one result per item, in order. Each caller passes its own send (bound
    to its request's RPC proxy); a batch goes out through the first caller's, which stays alive
    because that caller is waiting for the batch too.
    """

    def __init__(
        self,
        *,
        max_items: int = 64,
        window_s: float = 0.002,
        max_in_flight: int = 2,
        stall_s: float = 0.5,
    ) -> None:
        self.max_items = max_items
        self.window_s = window_s
        self.stall_s = stall_s
        self._pending: list[_Slot[I, R]] = []
        self._wake = Event()
        self._in_flight = Semaphore(max_in_flight)
        self._flusher: Any = None
        self.batches = 0
        self.items = 0

    def submit(self, item: I, send: Send[I, R], timeout: float) -> R:
        """Queue the item, wait for its batch, return its result (or raise the batch's error)."""
        slot: _Slot[I, R] = _Slot(item, send)
        self._pending.append(slot)
        if self._flusher is None or self._flusher.dead:
            self._flusher = eventlet.spawn(self._run)
        if not self._wake.ready():
            self._wake.send(None)
        result = slot.done.wait(timeout)
        if not slot.done.ready():  # timed out; the item may still be stored later: not a 201
            raise Unavailable(
                f"Hệ thống đang bận; hãy thử lại / no answer within {timeout:.0f}s; retry"
            )
        return result  # type: ignore[no-any-return]

    def _run(self) -> None:
        while True:
            if not self._pending:
                self._wake.wait()
                self._wake = Event()
                continue
            # Wait for a batch to come back (meanwhile this one grows), but not for long: a
            # call whose reply was lost (broker restart) must not hold up the ones after it.
            turn = self._in_flight.acquire(timeout=self.stall_s)
            if self.window_s and len(self._pending) < self.max_items:
                eventlet.sleep(self.window_s)  # let the requests arriving right now join
            batch, self._pending = self._pending[: self.max_items], self._pending[self.max_items :]
            if not batch:
                if turn:
                    self._in_flight.release()
                continue
            eventlet.spawn_n(self._send, batch, turn)

    def _send(self, batch: list[_Slot[I, R]], turn: bool) -> None:
        try:
            results = batch[0].send([s.item for s in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
        except BaseException as exc:  # noqa: BLE001 - every waiting request gets the error
            for waiting in batch:
                waiting.done.send_exception(exc)
            return
        finally:
            if turn:
                self._in_flight.release()
        self.batches += 1
        self.items += len(batch)
        for waiting, result in zip(batch, results, strict=True):
            waiting.done.send(result)
