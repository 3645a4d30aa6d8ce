"""Races on DynamoDB Local: many threads in several processes call one fresh key at once.

Never on moto, whose conditional put is not atomic under thread switches. Body executions are
counted from an external ledger file, not from idemlock's own view.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.aws import fresh_table
from tests.race_worker import Race, main

PROCESSES = 4
THREADS_PER_PROCESS = 8
ROUNDS = 25 * int(os.environ.get("IDEMLOCK_SOAK", "1"))
"""Fresh keys raced; IDEMLOCK_SOAK=N runs N times as many (the longer soak)."""


@pytest.mark.slow
def test_racing_callers_run_the_body_exactly_once_per_key(
    dynamodb_local: str, tmp_path: Path
) -> None:
    """32 threads in 4 processes race on each fresh key: each body runs exactly once."""
    table = fresh_table(dynamodb_local).table_name
    keys = [f"key-{round_}-{uuid.uuid4().hex[:8]}" for round_ in range(ROUNDS)]
    ledger = tmp_path / "ledger"
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(PROCESSES * THREADS_PER_PROCESS)
    results = spawn.Queue()
    spec = Race(dynamodb_local, table, keys, THREADS_PER_PROCESS, str(ledger))
    workers = [spawn.Process(target=main, args=(spec, barrier, results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes: Counter[str] = Counter()
    for _ in workers:
        outcomes.update(results.get(timeout=240))
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    executions = Counter(line.split()[0] for line in ledger.read_text().splitlines())
    assert executions == Counter(dict.fromkeys(keys, 1))
    calls = PROCESSES * THREADS_PER_PROCESS * ROUNDS
    assert sum(outcomes.values()) == calls
    assert set(outcomes) <= {"ran-or-replayed", "in progress"}, outcomes
    # Most racers arrive while the winner holds the lease, so the race really happened.
    assert outcomes["in progress"] >= ROUNDS
    results.close()
    results.join_thread()
