"""The drivers: ``advance`` resumes a protocol; ``drive_sync`` and ``drive_async`` do its steps.

Units, on hand-written protocols (generators of steps) and no store: what a driver sends back,
throws back, and raises. The real protocol through the drivers is in ``test_protocol.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from idemlock import current_lock
from idemlock._drivers import Done, advance, drive_async, drive_sync
from idemlock._steps import BodyFailed, RunBody, Sleep, Steps
from idemlock.lock import Lock


def one_sleep_then(value: object) -> Steps:
    """A protocol with one step, whose answer it records before returning ``value``."""
    answer = yield Sleep(0)
    return (answer, value)


def test_advance_sends_each_answer_and_ends_done() -> None:
    """The first advance starts the protocol; the last returns Done with its value."""
    steps = one_sleep_then("v")
    assert advance(steps) == Sleep(0)
    assert advance(steps, sent=None) == Done((None, "v"))


def test_advance_throws_a_steps_error_into_the_protocol() -> None:
    """What a step raised is thrown back at the yield; what the protocol lets out comes out."""
    steps = one_sleep_then("v")
    advance(steps)
    with pytest.raises(KeyError):
        advance(steps, error=KeyError("step"))


def test_advance_unwraps_a_body_failure() -> None:
    """A protocol that re-raises BodyFailed ends Done with the body's own exception."""

    def protocol() -> Steps:
        return (yield RunBody(None))

    steps = protocol()
    assert isinstance(advance(steps), RunBody)
    error = ValueError("body")
    done = advance(steps, error=BodyFailed(error))
    assert done == Done(None, error)
    with pytest.raises(ValueError, match="body") as raised:
        done.result()
    assert raised.value is error


def holding(lock: Lock) -> Steps:
    """A protocol that runs the body holding ``lock`` and returns what the body returned."""
    value = yield RunBody(lock)
    return value


def test_drive_sync_runs_the_body_holding_the_lock() -> None:
    """The body sees its lock as current_lock(); outside, there is none again."""
    lock = Lock("ns#k", "me", fence=1, lease_expires_at_ms=0)
    assert drive_sync(holding(lock), current_lock) is lock
    assert current_lock() is None


def test_drive_sync_raises_the_bodys_exception_as_it_was_raised() -> None:
    """The body's exception object comes back, its context not set to the driver's wrapper."""
    error = StopIteration("from the body")

    def body() -> Any:
        raise error

    with pytest.raises(StopIteration) as raised:
        drive_sync(holding(Lock("ns#k", "me", 1, 0)), body)
    assert raised.value is error
    assert raised.value.__context__ is None


def test_drive_async_awaits_the_body_and_performs_steps_off_the_loop() -> None:
    """A store step runs in a worker thread; the body is awaited on the loop, holding its lock."""
    lock = Lock("ns#k", "me", fence=1, lease_expires_at_ms=0)

    def protocol() -> Steps:
        slept = yield Sleep(0)
        value = yield RunBody(lock)
        return (slept, value)

    async def body() -> Lock | None:
        return current_lock()

    assert asyncio.run(drive_async(protocol(), body)) == (None, lock)
