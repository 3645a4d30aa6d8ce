"""5. Contention: threads racing on the same keys against DynamoDB Local.

For each key, every thread waits at a barrier and then calls the handler with that key at once.
The body sleeps 2 ms (so racing calls overlap the running body) and counts its executions under a
lock. Each key must execute exactly once: the winner runs it; the others see it in progress
(``InProgressError`` / ``IdempotencyAlreadyInProgressError``) or, arriving after completion, get
the stored result. Throughput is every call (winners and losers) over the wall time, barrier waits
included, so it is a property of this setup, not of DynamoDB.

Threads only: racing processes are not measured here (``tests/test_race.py`` covers idemlock's
correctness with 4 processes; a like-for-like process harness for Powertools was left out).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from benchmarks.common import LIBRARIES, create_table, make_client, summary, unique
from benchmarks.subjects import BodyFailed, Subject, context, make_subject

BODY_S = 0.002


def _race(subject: Subject, threads: int, keys: int) -> dict[str, Any]:
    executions: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    names = [unique("race") for _ in range(keys)]
    barrier = threading.Barrier(threads)

    def body(event: dict[str, Any]) -> str:
        with lock:
            executions[event["order_id"]] += 1
        time.sleep(BODY_S)
        return "done"

    subject.slot.body = body

    def worker() -> None:
        for name in names:
            barrier.wait()
            try:
                subject.handler({"order_id": name}, context())
            except subject.in_progress_error:
                outcome = "in_progress"
            except BodyFailed:  # pragma: no cover - the body never fails here
                outcome = "body_failed"
            except Exception as exc:
                outcome = f"error:{type(exc).__name__}"
            else:
                outcome = "returned"
            with lock:
                outcomes[outcome] += 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "calls_per_s": threads * keys / elapsed,
        "keys_per_s": keys / elapsed,
        "executions": sum(executions.values()),
        "double_executions": sum(count - 1 for count in executions.values() if count > 1),
        "keys_never_run": sum(1 for name in names if executions[name] == 0),
        "outcomes": dict(outcomes),
    }


def measure(endpoint_url: str, *, threads: int, keys: int, repeats: int) -> dict[str, Any]:
    """Per library: calls/s and keys/s (summaries), double executions (total over repeats)."""
    client = make_client(endpoint_url)
    subjects = {
        name: make_subject(name, client, create_table(client, f"race-{name}"), unique("ns"))
        for name in LIBRARIES
    }
    for subject in subjects.values():  # warm-up: connections
        _race(subject, threads, 2)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in LIBRARIES}
    for _ in range(repeats):
        for name in LIBRARIES:
            runs[name].append(_race(subjects[name], threads, keys))
    client.close()
    results: dict[str, Any] = {
        "threads": threads,
        "keys": keys,
        "repeats": repeats,
        "body_ms": BODY_S * 1000,
    }
    for name in LIBRARIES:
        outcomes: Counter[str] = Counter()
        for run in runs[name]:
            outcomes.update(run["outcomes"])
        results[name] = {
            "calls_per_s": summary([run["calls_per_s"] for run in runs[name]]),
            "keys_per_s": summary([run["keys_per_s"] for run in runs[name]]),
            "racing_calls": threads * keys * repeats,
            "executions": sum(run["executions"] for run in runs[name]),
            "double_executions": sum(run["double_executions"] for run in runs[name]),
            "keys_never_run": sum(run["keys_never_run"] for run in runs[name]),
            "outcomes": dict(outcomes),
        }
    return results
