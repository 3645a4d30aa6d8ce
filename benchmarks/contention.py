"""5. Contention: workers — threads, then processes — racing on the same keys on DynamoDB Local.

For each key, every worker waits at a barrier and then calls the handler with that key at once.
The body sleeps 2 ms (so racing calls overlap the running body) and records its execution. Each
key must execute exactly once: the winner runs it; the others see it in progress
(``InProgressError`` / ``IdempotencyAlreadyInProgressError``) or, arriving after completion, get
the stored result. Throughput is every call (winners and losers) over the wall time, barrier waits
included, so it is a property of this setup, not of DynamoDB.

Threads share one client and one process's GIL; processes each build their own client and
handler (as separate Lambda containers do) and report the keys their bodies ran, so a double
execution across processes is counted as surely as one within a process.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.common import (
    LIBRARIES,
    SPAWN,
    create_table,
    gather,
    make_client,
    summary,
    unique,
)
from benchmarks.subjects import Subject, context, make_subject

BODY_S = 0.002
MODES = ("threads", "processes")


def _arm(subject: Subject, executed: list[str], lock: threading.Lock) -> None:
    """Give the subject the racing body: record the key, then take a little time."""

    def body(event: dict[str, Any]) -> str:
        with lock:
            executed.append(event["order_id"])
        time.sleep(BODY_S)
        return "done"

    subject.slot.body = body


def _call(subject: Subject, name: str) -> str:
    """One racing call and how it ended."""
    try:
        subject.handler({"order_id": name}, context())
    except subject.in_progress_error:
        return "in_progress"
    except Exception as exc:  # reported, not hidden: any other ending is a finding
        return f"error:{type(exc).__name__}"
    return "returned"


def _run_keys(
    subject: Subject, names: Sequence[str], wait: Callable[[], object], outcomes: Counter[str]
) -> None:
    for name in names:
        wait()
        outcomes[_call(subject, name)] += 1


def _tally(
    names: Sequence[str],
    executed: Sequence[str],
    outcomes: Counter[str],
    workers: int,
    seconds: float,
) -> dict[str, Any]:
    executions = Counter(executed)
    return {
        "seconds": seconds,
        "calls_per_s": workers * len(names) / seconds,
        "keys_per_s": len(names) / seconds,
        "executions": sum(executions.values()),
        "double_executions": sum(count - 1 for count in executions.values() if count > 1),
        "keys_never_run": sum(1 for name in names if executions[name] == 0),
        "outcomes": dict(outcomes),
    }


def _race_threads(subject: Subject, workers: int, keys: int) -> dict[str, Any]:
    executed: list[str] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    names = [unique("race") for _ in range(keys)]
    barrier = threading.Barrier(workers)
    _arm(subject, executed, lock)

    def worker() -> None:
        mine: Counter[str] = Counter()
        _run_keys(subject, names, barrier.wait, mine)
        with lock:
            outcomes.update(mine)

    pool = [threading.Thread(target=worker) for _ in range(workers)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return _tally(names, executed, outcomes, workers, time.perf_counter() - start)


@dataclass(frozen=True)
class _Target:
    """What a racing process builds its handler on (sent to it, so plain data)."""

    library: str
    endpoint_url: str
    table: str
    namespace: str


def _process_worker(target: _Target, names: list[str], barrier: Any, results: Any) -> None:
    """One racing process: its own client and handler, the keys in order, its report queued."""
    client = make_client(target.endpoint_url)
    subject = make_subject(target.library, client, target.table, target.namespace)
    _call(subject, unique("warm-up"))  # connect before the clock starts (not a racing key)
    executed: list[str] = []
    _arm(subject, executed, threading.Lock())
    outcomes: Counter[str] = Counter()
    barrier.wait()
    start = time.perf_counter()
    _run_keys(subject, names, barrier.wait, outcomes)
    results.put((executed, dict(outcomes), time.perf_counter() - start))


def _race_processes(target: _Target, workers: int, keys: int) -> dict[str, Any]:
    names = [unique("race") for _ in range(keys)]
    barrier = SPAWN.Barrier(workers)
    reports = gather(
        _process_worker,
        [(target, names, barrier)] * workers,
        what=f"a racing {target.library} process",
        timeout_s=300,
    )
    executed = [key for report in reports for key in report[0]]
    outcomes: Counter[str] = Counter()
    for report in reports:
        outcomes.update(report[1])
    # Every worker starts at the same barrier: the slowest one's time is the race's wall time.
    return _tally(names, executed, outcomes, workers, max(report[2] for report in reports))


def _summarise(runs: list[dict[str, Any]], workers: int, keys: int) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    for run in runs:
        outcomes.update(run["outcomes"])
    return {
        "calls_per_s": summary([run["calls_per_s"] for run in runs]),
        "keys_per_s": summary([run["keys_per_s"] for run in runs]),
        "racing_calls": workers * keys * len(runs),
        "executions": sum(run["executions"] for run in runs),
        "double_executions": sum(run["double_executions"] for run in runs),
        "keys_never_run": sum(run["keys_never_run"] for run in runs),
        "outcomes": dict(outcomes),
    }


def measure(
    endpoint_url: str, *, threads: int, processes: int, keys: int, repeats: int
) -> dict[str, Any]:
    """Per mode and library: calls/s and keys/s (summaries), double executions (total)."""
    client = make_client(endpoint_url)
    tables = {name: create_table(client, f"race-{name}") for name in LIBRARIES}
    namespaces = {name: unique("ns") for name in LIBRARIES}
    subjects = {
        name: make_subject(name, client, tables[name], namespaces[name]) for name in LIBRARIES
    }
    for subject in subjects.values():  # warm-up: connections
        _race_threads(subject, threads, 2)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        mode: {name: [] for name in LIBRARIES} for mode in MODES
    }
    for _ in range(repeats):
        for name in LIBRARIES:  # interleaved, so drift hits both alike
            runs["threads"][name].append(_race_threads(subjects[name], threads, keys))
            runs["processes"][name].append(
                _race_processes(
                    _Target(name, endpoint_url, tables[name], namespaces[name]), processes, keys
                )
            )
    client.close()
    results: dict[str, Any] = {"keys": keys, "repeats": repeats, "body_ms": BODY_S * 1000}
    for mode, workers in (("threads", threads), ("processes", processes)):
        results[mode] = {"workers": workers}
        for name in LIBRARIES:
            results[mode][name] = _summarise(runs[mode][name], workers, keys)
    return results
