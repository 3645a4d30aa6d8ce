"""6. End to end on DynamoDB Local: client CPU and wall time per call, as a user feels them.

Section 2 takes the DynamoDB client out to see the libraries' own code; a user never runs that
alone. Here each path (first run, duplicate, in progress, body raises, takeover) is called on
DynamoDB Local without a proxy, both libraries interleaved call by call (ABBA: the order
alternating between calls, so drift and bursts of load hit both alike), in two set-ups:

- ``shared``: one botocore client, made here, passed to both libraries;
- ``default``: each library's own client, made from the environment, as a user who passes
  nothing gets it (``AWS_ENDPOINT_URL_DYNAMODB`` points both at DynamoDB Local).

Per call, ``time.process_time()`` is this process's CPU — the library and botocore, not the
server, which is another process — and ``time.perf_counter()`` the wall time. Each call's
starting state is prepared outside the timed region. The figure per path and library is the
median over rounds of each round's median.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.common import LIBRARIES, PATHS, create_table, make_client, summary, unique
from benchmarks.paths import call, check, setup
from benchmarks.subjects import LastKey, Subject, context, make_subject
from tests.aws import local_aws_environment

SETUPS = ("shared", "default")


@contextmanager
def local_aws(endpoint_url: str) -> Iterator[None]:
    """The environment a deployed function reads, pointed at ``endpoint_url``, then restored."""
    values = local_aws_environment(endpoint_url)
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _subjects(setup_name: str, endpoint_url: str, admin: Any) -> dict[str, Subject]:
    shared = make_client(endpoint_url) if setup_name == "shared" else None
    subjects = {}
    for name in LIBRARIES:
        table = create_table(admin, f"e2e-{setup_name}-{name}")
        subjects[name] = make_subject(name, shared, table, unique("ns"))
    return subjects


def _time_call(subject: Subject, path: str, admin: Any, last_key: LastKey) -> tuple[float, float]:
    """µs of client CPU and of wall time of one call on ``path``, its starting state untimed."""
    event = setup(subject, path, admin, subject.table, last_key.get)
    lambda_context = context()
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    outcome = call(subject, event, lambda_context)
    wall = (time.perf_counter() - wall_start) * 1e6
    cpu = (time.process_time() - cpu_start) * 1e6
    check(subject, path, outcome)
    return cpu, wall


def _round(
    subjects: dict[str, Subject], path: str, admin: Any, keys: dict[str, LastKey], calls: int
) -> dict[str, tuple[float, float]]:
    """Per library, median µs of client CPU and of wall time per call over ``calls`` calls.

    The libraries take turns call by call (ABBA), so a burst of load on the shared machine
    lands on both alike rather than on one library's block of calls.
    """
    cpu: dict[str, list[float]] = {name: [] for name in subjects}
    wall: dict[str, list[float]] = {name: [] for name in subjects}
    for number in range(calls):
        order = list(subjects) if number % 2 == 0 else list(reversed(subjects))
        for name in order:
            cpu_us, wall_us = _time_call(subjects[name], path, admin, keys[name])
            cpu[name].append(cpu_us)
            wall[name].append(wall_us)
    return {
        name: (statistics.median(cpu[name]), statistics.median(wall[name])) for name in subjects
    }


def measure(endpoint_url: str, *, calls: int, rounds: int) -> dict[str, Any]:
    """Per set-up, path and library: CPU and wall µs per call, and idemlock ÷ Powertools."""
    admin = make_client(endpoint_url)
    results: dict[str, Any] = {"calls_per_round": calls, "rounds": rounds, "setups": {}}
    try:
        with local_aws(endpoint_url):
            for setup_name in SETUPS:
                subjects = _subjects(setup_name, endpoint_url, admin)
                keys = {name: LastKey(subject.client) for name, subject in subjects.items()}
                for path in PATHS:  # warm-up: connections, caches
                    _round(subjects, path, admin, keys, 5)
                samples: dict[str, dict[str, list[tuple[float, float]]]] = {
                    name: {path: [] for path in PATHS} for name in LIBRARIES
                }
                gc.collect()
                for _ in range(rounds):
                    for path in PATHS:
                        for name, sample in _round(subjects, path, admin, keys, calls).items():
                            samples[name][path].append(sample)
                results["setups"][setup_name] = _rows(samples)
    finally:
        admin.close()
    return results


def _rows(samples: dict[str, dict[str, list[tuple[float, float]]]]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for path in PATHS:
        row: dict[str, Any] = {}
        for name in LIBRARIES:
            row[name] = {
                "cpu_us": summary([cpu for cpu, _ in samples[name][path]]),
                "wall_us": summary([wall for _, wall in samples[name][path]]),
            }
        for measure_name in ("cpu_us", "wall_us"):
            row[f"{measure_name}_ratio"] = (
                row["idemlock"][measure_name]["median"] / row["powertools"][measure_name]["median"]
            )
        rows[path] = row
    return rows
