"""What a reading thread produces, handed to the event loop in order: ``Handoff``.

A live log is written a line or two at a time, and a tail that reads each
write at once wakes about a thousand times a second at 2,000 lines/s. On
the event loop each wake-up costs an iteration of the loop, a task step and
a timer; in a thread blocked in ``poll`` it costs little more than the
system calls. So a file is read (and its lines routed) in a thread of its
own, and only what needs the loop crosses over: batches with alerts, and
the read position now and then.

``Handoff.start(produce)`` runs ``produce(put)`` in a new thread. ``put``
blocks while ``room`` items wait (backpressure: reading never runs far
ahead of storing). The loop takes items with ``get``, in order; it raises
``Ended`` after the last, or the producer's own exception. ``finish`` is
the end of a stop: from then on ``put`` takes its item without waiting for
room and returns ``False``, the producer's cue to stop; once the thread has
ended, ``finish`` returns the items never taken, in order, and the
producer's exception if ``get`` never raised it: what was produced is never
silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Ended", "Handoff"]

T = TypeVar("T")


class Ended(Exception):
    """The producer returned: no item will follow."""


class Handoff(Generic[T]):
    """Items from one producing thread to the event loop; see the module docstring."""

    def __init__(self, room: int = 4) -> None:
        self._room = room
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._has_room = threading.Condition(self._lock)
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._ended = False
        self._error: BaseException | None = None
        self._finished = self._loop.create_future()
        self._thread: threading.Thread | None = None

    def start(self, produce: Callable[[Callable[[T], bool]], None], name: str) -> None:
        """Run ``produce(put)`` in a new thread, from now on."""
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    async def get(self) -> T:
        """The next item; raises ``Ended`` after the last, or what the producer raised."""
        while True:
            with self._lock:
                if self._items:
                    self._has_room.notify()
                    return self._items.popleft()
                if self._ended:
                    error, self._error = self._error, None
                    if error is not None:
                        raise error
                    raise Ended
                # Made under the lock: a producer that puts from now on sees it and
                # wakes the loop; while items are being taken it does not.
                waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    async def finish(self) -> tuple[list[T], BaseException | None]:
        """Take the producer's last item without room, wait for its thread to end (a
        cancellation meanwhile is passed on once it has), and return what ``get`` did
        not: the items, in order, and the producer's exception."""
        with self._lock:
            self._closed = True
            self._has_room.notify_all()
        cancelled = False
        while not self._finished.done():
            try:
                await asyncio.shield(self._finished)
            except asyncio.CancelledError:
                cancelled = True  # the thread is waited for all the same
        if self._thread is not None:
            self._thread.join()  # it has set _finished: it is returning
        with self._lock:
            rest, self._items = list(self._items), deque()
            error, self._error = self._error, None
        if cancelled:
            raise asyncio.CancelledError
        return rest, error

    def _put(self, item: T) -> bool:
        with self._lock:
            while len(self._items) >= self._room and not self._closed:
                self._has_room.wait()
            # Closed: the item is kept all the same (``finish`` returns it), and the
            # producer is told to stop.
            self._items.append(item)
            waiting = self._waiter is not None
            closed = self._closed
        if waiting:
            self._loop.call_soon_threadsafe(self._wake)
        return not closed

    def _run(self, produce: Callable[[Callable[[T], bool]], None]) -> None:
        error: BaseException | None = None
        try:
            produce(self._put)
        except BaseException as exc:  # handed to the loop, which raises it from get()
            error = exc
        with self._lock:
            self._ended = True
            self._error = error
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self._loop.call_soon_threadsafe(self._end)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _end(self) -> None:
        self._wake()
        if not self._finished.done():
            self._finished.set_result(None)
