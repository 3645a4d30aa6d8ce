"""Waiting on other threads in tests: generous bounds, never a claim about how long it took."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from idemlock.errors import InProgressError


def knock_until(done: threading.Event, attempt: Callable[[], object]) -> list[str]:
    """Call ``attempt`` every 0.2 s until ``done``; what each call ended as."""
    outcomes = []
    while not done.wait(0.2):
        try:
            attempt()
        except InProgressError:
            outcomes.append("in_progress")
        else:
            outcomes.append("ran")
    return outcomes


def wait_for(condition: Callable[[], bool], *, timeout_s: float = 30.0) -> None:
    """Poll until ``condition()``; fail after a generous ``timeout_s`` (a bound, not a timing)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not true after {timeout_s} s"
        time.sleep(0.02)
