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


def _sample(subject: Subject, fake: FakeDynamoDB, path: str, calls: int) -> dict[str, float]:
    """Median microseconds per call of ``calls`` calls on ``path``: library, stand-in, total."""
    library: list[float] = []
    total: list[float] = []
    stand_in: list[float] = []
    for _ in range(calls):
        event = setup(subject, path, fake, TABLE, lambda: fake.last_key)
        lambda_context = context()
        fake_before = fake.elapsed
        start = time.perf_counter()
        outcome = call(subject, event, lambda_context)
        elapsed = time.perf_counter() - start
        inside = fake.elapsed - fake_before
        check(subject, path, outcome)
        total.append(elapsed * 1e6)
        stand_in.append(inside * 1e6)
        library.append((elapsed - inside) * 1e6)
    return {
        "library_us": statistics.median(library),
        "stand_in_us": statistics.median(stand_in),
        "total_us": statistics.median(total),
    }


def measure(*, calls: int, repeats: int) -> dict[str, Any]:
    """Per path and library: the median over repeats of the per-repeat median, and its spread."""
    fake = FakeDynamoDB()
    subjects = {name: make_subject(name, fake, TABLE, unique("ns")) for name in LIBRARIES}
    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {path: [] for path in PATHS} for name in LIBRARIES
    }
    for subject in subjects.values():  # warm-up: imports, caches, compiled expressions
        for path in PATHS:
            _sample(subject, fake, path, 20)
    gc.collect()
    for _ in range(repeats):
        for path in PATHS:
            for name in LIBRARIES:  # interleaved, so drift hits both alike
                samples[name][path].append(_sample(subjects[name], fake, path, calls))
    results: dict[str, Any] = {"calls_per_repeat": calls, "repeats": repeats, "paths": {}}
    for path in PATHS:
        row: dict[str, Any] = {}
        for name in LIBRARIES:
            row[name] = {
                "library_us": summary([s["library_us"] for s in samples[name][path]]),
                "stand_in_us": statistics.median(s["stand_in_us"] for s in samples[name][path]),
                "total_us": statistics.median(s["total_us"] for s in samples[name][path]),
            }
        row["ratio"] = (
            row["idemlock"]["library_us"]["median"] / row["powertools"]["library_us"]["median"]
        )
        results["paths"][path] = row
    return results
