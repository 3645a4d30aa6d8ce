"""The five single-call paths, each from the same starting state for both libraries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.common import unique
from benchmarks.subjects import BodyFailed, Subject, context, fail, noop, set_state

Event = dict[str, Any]


def setup(
    subject: Subject, path: str, client: Any, table: str, last_key: Callable[[], str | None]
) -> Event:
    """Bring a fresh key into the path's starting state; return the event to call with."""
    event: Event = {"order_id": unique("order"), "amount": 42}
    subject.slot.body = noop
    if path in ("first_run", "body_raises"):
        if path == "body_raises":
            subject.slot.body = fail
        return event
    subject.handler(event, context())  # a first run completes the key
    if path == "duplicate_completed":
        return event
    key = last_key()
    assert key is not None
    set_state(client, table, key, subject.dialect, expired=path == "takeover")
    return event


def call(subject: Subject, event: Event, lambda_context: Any = None) -> str:
    """Call the handler once: ``"returned"``, ``"in_progress"`` or ``"body_raised"``.

    ``lambda_context`` is made beforehand by a caller that times the call, so the timing holds
    the library's work, not the stand-in context's construction.
    """
    try:
        subject.handler(event, context() if lambda_context is None else lambda_context)
    except BodyFailed:
        return "body_raised"
    except subject.in_progress_error:
        return "in_progress"
    return "returned"


EXPECTED = {
    "first_run": "returned",
    "duplicate_completed": "returned",
    "duplicate_in_progress": "in_progress",
    "body_raises": "body_raised",
    "takeover": "returned",
}


def check(subject: Subject, path: str, outcome: str) -> None:
    """Fail loudly if a path did not end as it should (a benchmark of the wrong thing)."""
    subject.slot.body = noop
    if outcome != EXPECTED[path]:
        raise AssertionError(f"{subject.name} {path}: expected {EXPECTED[path]}, got {outcome}")
