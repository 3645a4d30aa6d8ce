"""The heartbeat's timer: it beats while the body runs, stops when told, stops on a lost lock."""

from __future__ import annotations

import asyncio
import threading
import time

from idemlock._heartbeat import Heartbeat


class Beats:
    """A beat that counts, says the lock is lost after ``alive`` beats, and can be slow."""

    def __init__(self, alive: int = 1_000, slow_s: float = 0.0) -> None:
        self.count = 0
        self.alive = alive
        self.slow_s = slow_s
        self.threads: set[str] = set()
        self.in_flight = False

    def __call__(self) -> bool:
        self.in_flight = True
        self.threads.add(threading.current_thread().name)
        time.sleep(self.slow_s)
        self.count += 1
        self.in_flight = False
        return self.count < self.alive


def test_a_thread_heartbeat_beats_until_stopped_and_never_after() -> None:
    """Beats every period from its own daemon thread; none after stop() returns."""
    beats = Beats()
    heartbeat = Heartbeat(beats, 0.02).start()
    time.sleep(0.3)
    heartbeat.stop()
    after_stop = beats.count
    time.sleep(0.1)
    assert after_stop >= 2
    assert beats.count == after_stop
    assert beats.threads == {"idemlock-heartbeat"}


def test_a_heartbeat_stops_by_itself_when_the_lock_is_lost() -> None:
    """beat() returning False (another owner) ends the heartbeat: no further extension."""
    beats = Beats(alive=2)
    heartbeat = Heartbeat(beats, 0.01).start()
    time.sleep(0.3)
    assert beats.count == 2
    heartbeat.stop()


def test_stop_waits_for_a_beat_in_flight() -> None:
    """A stop during an extension returns only once it landed: none races the complete."""
    beats = Beats(slow_s=0.2)
    heartbeat = Heartbeat(beats, 0.01).start()
    time.sleep(0.05)
    heartbeat.stop()
    assert not beats.in_flight


def test_an_async_heartbeat_beats_in_a_thread_and_stops_with_its_task() -> None:
    """For an async body: a task on the loop, each beat in a worker thread; stop waits for it."""
    beats = Beats(slow_s=0.05)

    async def main() -> None:
        heartbeat = await Heartbeat(beats, 0.02).start_async()
        await asyncio.sleep(0.3)
        await heartbeat.stop_async()
        assert not beats.in_flight
        stopped_at = beats.count
        await asyncio.sleep(0.1)
        assert beats.count == stopped_at

    asyncio.run(main())
    assert beats.count >= 2
    assert "idemlock-heartbeat" not in beats.threads  # not the loop's thread: a worker's
