"""Lease heartbeats: keep a long body's claim alive while it runs, and only while it runs.

A heartbeat calls ``beat`` every ``period_s`` seconds — one conditional extension of the lease on
our owner token — from a daemon thread of its own, beside a synchronous body and an ``async`` one
alike: a body that blocks its event loop or fills its executor cannot delay a beat. ``beat``
returns ``False`` once the lock is lost (another invocation took the key over): the heartbeat
stops there.

What a beat has to tell (the ``extended`` event, a store error, a lost lock) goes through
:meth:`Heartbeat.tell` to a second thread, so that no ``on_event`` sink, however slow, delays
the next beat. Both threads run in a copy of the context the body started in, so a sink sees
the caller's OpenTelemetry span and :func:`idemlock.current_lock`.

``stop`` ends it before the protocol completes or releases the key: it waits for a beat in
flight, so no extension races the complete and no beat outlives its call. It waits for what was
told so far only half a period (events usually come before ``completed``): the beats have
stopped, so the lease runs down while a slow sink takes its time, and the complete must not
wait for it. What such a sink has not taken yet reaches it after the call returned, in order.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Callable

from idemlock.errors import HeartbeatError

Told = Callable[[], object]
"""Something to tell, called on the heartbeat's telling thread."""


def _done() -> None:
    """The last thing told: it ends the telling thread."""


class Heartbeat:
    """Calls ``beat`` every ``period_s`` seconds until stopped or ``beat`` says the lock is lost.

    Make it, give it its ``beat`` with :meth:`beating` (a beat tells through :meth:`tell`),
    then :meth:`start` it.
    """

    def __init__(self, period_s: float) -> None:
        self._period_s = period_s
        self._beat: Callable[[], bool] = lambda: False
        self._stopped = threading.Event()
        self._told: queue.SimpleQueue[Told] = queue.SimpleQueue()
        self._beats: threading.Thread | None = None
        self._teller: threading.Thread | None = None

    def beating(self, beat: Callable[[], bool]) -> Heartbeat:
        """Beat with ``beat``: ``False`` from it ends the heartbeat."""
        self._beat = beat
        return self

    def tell(self, told: Told) -> None:
        """Run ``told`` on the telling thread, after what was told before it."""
        self._told.put(told)

    def start(self) -> Heartbeat:
        """Start beating; :class:`HeartbeatError` if a thread cannot start (the thread limit)."""
        try:
            self._teller = _started("idemlock-heartbeat-events", self._tell)
            self._beats = _started("idemlock-heartbeat", self._run)
        except RuntimeError as exc:
            self.stop()
            raise HeartbeatError(f"the heartbeat could not start its thread: {exc}") from exc
        return self

    def _run(self) -> None:
        while not self._stopped.wait(self._period_s):
            if not self._beat():
                return

    def _tell(self) -> None:
        while (told := self._told.get()) is not _done:
            told()

    def stop(self) -> None:
        """Stop beating; wait for a beat in flight, then (briefly) for what was told."""
        self._stopped.set()
        if self._beats is not None:
            self._beats.join()  # first: a beat in flight may still tell
        if self._teller is not None:
            self._told.put(_done)  # the teller ends once it has told everything before this
            self._teller.join(self._period_s / 2)
        self._beats = self._teller = None

    async def stop_async(self) -> None:
        """:meth:`stop`, awaited: the event loop runs on while the threads finish."""
        loop = asyncio.get_running_loop()
        stopped = loop.create_future()

        def stop_then_wake() -> None:
            self.stop()
            loop.call_soon_threadsafe(stopped.set_result, None)

        try:
            _started("idemlock-heartbeat-stop", stop_then_wake)
        except RuntimeError:  # no thread to wait on: wait here (one beat in flight, at most)
            self.stop()
            return
        await stopped


def _started(name: str, run: Callable[[], None]) -> threading.Thread:
    """A daemon thread running ``run`` in a copy of this context.

    One copy per thread: a context runs on one thread at a time.
    """
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(run,), name=name, daemon=True)
    thread.start()
    return thread
