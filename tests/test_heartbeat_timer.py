"""The heartbeat's timer: it beats while the body runs, stops when told, stops on a lost lock."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from functools import partial

import pytest

from idemlock._heartbeat import Heartbeat
from idemlock.errors import HeartbeatError


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
    heartbeat = Heartbeat(0.02).beating(beats).start()
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
    heartbeat = Heartbeat(0.01).beating(beats).start()
    time.sleep(0.3)
    assert beats.count == 2
    heartbeat.stop()


def test_stop_waits_for_a_beat_in_flight() -> None:
    """A stop during an extension returns only once it landed: none races the complete."""
    beats = Beats(slow_s=0.2)
    heartbeat = Heartbeat(0.01).beating(beats).start()
    time.sleep(0.05)
    heartbeat.stop()
    assert not beats.in_flight


def test_an_async_bodys_heartbeat_beats_from_its_own_thread() -> None:
    """For an async body too: its own thread, never the loop or its executor; stop_async
    waits for a beat in flight while the loop runs on."""
    beats = Beats(slow_s=0.05)

    async def main() -> None:
        heartbeat = Heartbeat(0.02).beating(beats).start()
        time.sleep(0.3)  # a body that blocks its loop does not block the beats
        await heartbeat.stop_async()
        assert not beats.in_flight
        stopped_at = beats.count
        await asyncio.sleep(0.1)
        assert beats.count == stopped_at

    asyncio.run(main())
    assert beats.count >= 2
    assert beats.threads == {"idemlock-heartbeat"}


def test_what_a_beat_tells_runs_on_another_thread_in_order() -> None:
    """A slow teller (an on_event sink) delays neither a beat nor stop(); all is told, in order."""
    told: list[int] = []
    threads: set[str] = set()
    heartbeat = Heartbeat(0.01)

    def slow(n: int) -> None:
        threads.add(threading.current_thread().name)
        time.sleep(0.05)
        told.append(n)

    class Telling(Beats):
        def __call__(self) -> bool:
            heartbeat.tell(partial(slow, self.count))
            return super().__call__()

    beats = Telling()
    heartbeat.beating(beats).start()
    time.sleep(0.3)
    heartbeat.stop()
    assert beats.count > len(told) + 3  # beats went on while the teller slept; stop did not wait
    deadline = time.monotonic() + 30
    while len(told) < beats.count and time.monotonic() < deadline:
        time.sleep(0.05)  # a bound, not a timing: the teller finishes in the background
    assert told == list(range(beats.count))  # every one told, in order
    assert threads == {"idemlock-heartbeat-events"}


def test_the_heartbeat_threads_run_in_the_context_the_body_started_in() -> None:
    """A sink sees the caller's context variables (an OpenTelemetry span, current_lock())."""
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="none")
    seen: list[str] = []
    heartbeat = Heartbeat(0.01)

    def beat() -> bool:
        seen.append(variable.get())
        heartbeat.tell(lambda: seen.append(variable.get()))
        return False

    variable.set("the caller's")
    heartbeat.beating(beat).start()
    time.sleep(0.1)
    heartbeat.stop()
    assert seen == ["the caller's", "the caller's"]


def test_a_heartbeat_that_cannot_start_a_thread_is_a_heartbeat_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At the thread limit: a typed error, and nothing left running."""
    monkeypatch.setattr(threading.Thread, "start", _refuse)
    with pytest.raises(HeartbeatError, match="could not start"):
        Heartbeat(0.01).beating(Beats()).start()


def _refuse(self: threading.Thread) -> None:
    raise RuntimeError("can't start new thread")
