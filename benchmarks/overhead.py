"""2. Library overhead per call, without a network: both libraries on the in-memory stand-in."""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from benchmarks.common import LIBRARIES, PATHS, summary, unique
from benchmarks.fakeclient import FakeDynamoDB
from benchmarks.paths import call, check, setup
from benchmarks.subjects import Subject, context, make_subject

TABLE = "locks"


def _time_call(subject: Subject, fake: FakeDynamoDB, path: str) -> tuple[float, float, float]:
    """µs of one call on ``path``, its starting state untimed: library, stand-in, total."""
    event = setup(subject, path, fake, TABLE, lambda: fake.last_key)
    lambda_context = context()
    fake_before = fake.elapsed
    start = time.perf_counter()
    outcome = call(subject, event, lambda_context)
    elapsed = time.perf_counter() - start
    inside = fake.elapsed - fake_before
    check(subject, path, outcome)
    return (elapsed - inside) * 1e6, inside * 1e6, elapsed * 1e6


def sample(subject: Subject, fake: FakeDynamoDB, path: str, calls: int) -> dict[str, float]:
    """Median µs per call of ``calls`` calls on ``path``: library, stand-in, total."""
    return _medians([_time_call(subject, fake, path) for _ in range(calls)])


BLOCK = 25
"""Calls in a row for one library before the other takes its turn."""


def _paired(
    subjects: dict[str, Subject], fake: FakeDynamoDB, path: str, calls: int
) -> dict[str, dict[str, float]]:
    """Per library, :func:`sample`, the libraries taking turns in blocks of :data:`BLOCK` calls.

    Blocks follow each other within milliseconds, in alternating order (ABBA), so the shared
    host's drift in speed lands on both libraries alike: in blocks of 500 calls, one library's
    block could fall in a slow patch the other's missed. Not call by call: then each call would
    start with the caches and branch history the other library left, a cost no handler pays in
    production, where one library runs (about 10 µs per call for idemlock, measured with a client
    that answers at once; the stand-in's own work between calls stays in the figures).
    """
    timings: dict[str, list[tuple[float, float, float]]] = {name: [] for name in subjects}
    for number in range(-(-calls // BLOCK)):
        order = list(subjects) if number % 2 == 0 else list(reversed(subjects))
        size = min(BLOCK, calls - number * BLOCK)
        for name in order:
            timings[name].extend(_time_call(subjects[name], fake, path) for _ in range(size))
    return {name: _medians(timings[name]) for name in subjects}


def _medians(timings: list[tuple[float, float, float]]) -> dict[str, float]:
    return {
        "library_us": statistics.median(t[0] for t in timings),
        "stand_in_us": statistics.median(t[1] for t in timings),
        "total_us": statistics.median(t[2] for t in timings),
    }


def measure(*, calls: int, repeats: int) -> dict[str, Any]:
    """Per path and library: the median over repeats of the per-repeat median, and its spread.

    ``ratio`` is the median over repeats of each repeat's idemlock ÷ Powertools, the two
    medians of one repeat having been taken from the same stretch of time.
    """
    fake = FakeDynamoDB()
    subjects = {name: make_subject(name, fake, TABLE, unique("ns")) for name in LIBRARIES}
    samples: dict[str, list[dict[str, dict[str, float]]]] = {path: [] for path in PATHS}
    for path in PATHS:  # warm-up: imports, caches, compiled expressions
        _paired(subjects, fake, path, 20)
    gc.collect()
    for repeat in range(repeats):
        # Which library leads reverses every other repeat: neither always opens a path.
        ordered = subjects if repeat % 2 == 0 else dict(reversed(subjects.items()))
        for path in PATHS:
            samples[path].append(_paired(ordered, fake, path, calls))
    results: dict[str, Any] = {
        "calls_per_repeat": calls,
        "repeats": repeats,
        "block": BLOCK,
        "paths": {},
    }
    for path in PATHS:
        row: dict[str, Any] = {}
        for name in LIBRARIES:
            row[name] = {
                "library_us": summary([s[name]["library_us"] for s in samples[path]]),
                "stand_in_us": statistics.median(s[name]["stand_in_us"] for s in samples[path]),
                "total_us": statistics.median(s[name]["total_us"] for s in samples[path]),
            }
        ratios = [
            s["idemlock"]["library_us"] / s["powertools"]["library_us"] for s in samples[path]
        ]
        row["ratio"] = statistics.median(ratios)
        row["ratio_spread"] = summary(ratios)
        results["paths"][path] = row
    return results
