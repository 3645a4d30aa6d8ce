"""Lease heartbeats: keep a long body's claim alive while it runs, and only while it runs.

A heartbeat calls ``beat`` every ``period_s`` seconds — one conditional extension of the lease on
our owner token — from a daemon thread next to a synchronous body, or from a task next to an
``async`` one. ``beat`` returns ``False`` once the lock is lost (another invocation took the key
over): the heartbeat stops there. ``stop`` ends it before the protocol completes or releases the
key, waiting for an extension in flight, so no extension races the complete, and a heartbeat
never outlives its call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any


class Heartbeat:
    """Calls ``beat`` every ``period_s`` seconds until stopped or ``beat`` says the lock is lost."""

    def __init__(self, beat: Callable[[], bool], period_s: float) -> None:
        self._beat = beat
        self._period_s = period_s
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: Any = None
        self._in_flight: Any = None

    def start(self) -> Heartbeat:
        """Beat from a daemon thread (a synchronous body)."""
        self._thread = threading.Thread(target=self._run, name="idemlock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.wait(self._period_s):
            if not self._beat():
                return

    def stop(self) -> None:
        """Stop beating and wait for a beat in flight to end (a thread's)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    async def start_async(self) -> Heartbeat:
        """Beat from a task on the running loop (an ``async`` body); beats run in a thread."""

        async def run() -> None:
            while True:
                await asyncio.sleep(self._period_s)  # where a stop's cancellation lands
                if self._stopped.is_set():
                    return
                # Shielded: a stop must wait for an extension in flight, not abandon it.
                self._in_flight = asyncio.ensure_future(asyncio.to_thread(self._beat))
                if not await asyncio.shield(self._in_flight):
                    return

        self._task = asyncio.get_running_loop().create_task(run(), name="idemlock-heartbeat")
        return self

    async def stop_async(self) -> None:
        """Stop the task, and wait for an extension in flight to land."""
        self._stopped.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._in_flight is not None:
            await asyncio.gather(self._in_flight, return_exceptions=True)
