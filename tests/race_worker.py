"""A worker process for the race test: threads that call one idempotent function together.

Imported by child processes (spawned), so it holds no pytest state. Each body run appends a line
to a shared ledger file (``O_APPEND`` writes of one short line are atomic), the external record
the test counts executions from.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from typing import Any

import boto3

from idemlock import DynamoDBStore, idempotent
from idemlock.errors import InProgressError


def make_store(endpoint_url: str, table: str) -> DynamoDBStore:
    """A store with its own client, as each Lambda container would have."""
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    return DynamoDBStore(table, client=client)


@dataclass(frozen=True)
class Race:
    """What one worker process does: call ``keys`` in order from ``threads`` threads."""

    endpoint_url: str
    table: str
    keys: list[str]
    threads: int
    ledger: str


def race(spec: Race, barrier: Barrier) -> Counter[str]:
    """Call the function with every key from ``spec.threads`` threads at once; count outcomes."""
    store = make_store(spec.endpoint_url, spec.table)
    ledger = spec.ledger

    @idempotent(lambda key: key, store=store, namespace="race", lease=60)
    def body(key: str) -> str:
        fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{key} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
        time.sleep(0.02)  # keep the lease held while the others arrive
        return key

    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def caller() -> None:
        for key in spec.keys:
            barrier.wait(timeout=120)
            try:
                outcome = "ran-or-replayed" if body(key) == key else "wrong result"
            except InProgressError:
                outcome = "in progress"
            except Exception as exc:  # counted and reported by the test
                outcome = f"error: {type(exc).__name__}: {exc}"
            with lock:
                outcomes[outcome] += 1

    workers = [threading.Thread(target=caller) for _ in range(spec.threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


def main(spec: Race, barrier: Barrier, results: Any) -> None:
    """Process entry point: put the outcome counts on the ``results`` queue."""
    results.put(dict(race(spec, barrier)))
