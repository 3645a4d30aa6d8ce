"""Crashes and stale owners with real processes on DynamoDB Local.

A worker (``tests/reliability_worker.py``) is SIGKILLed in the middle of its body, or paused past
its lease while another invocation takes the key over. What each process did is read from a
ledger file, not from idemlock's own view.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from idemlock import DynamoDBStore, current_lock, idempotent
from idemlock.errors import InProgressError
from idemlock.item import LockStatus
from tests.aws import fresh_table

LEASE_S = 2.0


def spawn(
    endpoint: str, store: DynamoDBStore, key: str, ledger: Path, *, hold: float
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "tests.reliability_worker", endpoint, store.table_name, key,
            str(ledger), "--lease", str(LEASE_S), "--hold", str(hold),
        ],
    )  # fmt: skip


def wait_for(ledger: Path, text: str, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = ledger.read_text().splitlines() if ledger.exists() else []
        if any(text in line for line in lines):
            return lines
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in the ledger")


@pytest.mark.slow
def test_a_killed_worker_blocks_its_key_only_until_its_lease_ends(
    dynamodb_local: str, tmp_path: Path
) -> None:
    """SIGKILL mid-body: retries get InProgressError until the lease ends; then, among 8
    concurrent retries, exactly one runs the body and the key completes."""
    store = fresh_table(dynamodb_local)
    ledger = tmp_path / "ledger"
    worker = spawn(dynamodb_local, store, "file.csv", ledger, hold=60)
    wait_for(ledger, "started")
    killed_at = time.monotonic()
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)

    runs: list[int] = []
    lock = threading.Lock()

    @idempotent(lambda key: key, store=store, namespace="reliability", lease=30)
    def retry(key: str) -> str:
        held = current_lock()
        assert held is not None
        with lock:
            runs.append(held.fence)
        time.sleep(0.05)
        return "retried"

    with pytest.raises(InProgressError) as blocked:
        retry("file.csv")
    record = store.get("reliability#file.csv")
    assert record is not None
    assert record.status is LockStatus.IN_PROGRESS
    lease_ends_in = blocked.value.lease_expires_at.timestamp() - time.time()
    assert 0 < lease_ends_in <= LEASE_S

    time.sleep(max(0.0, LEASE_S - (time.monotonic() - killed_at)) + 0.1)
    outcomes: list[str] = []

    def caller() -> None:
        try:
            outcomes.append(retry("file.csv"))
        except InProgressError:
            outcomes.append("in progress")

    callers = [threading.Thread(target=caller) for _ in range(8)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()

    assert len(runs) == 1
    killed_fence = int(wait_for(ledger, "started")[0].split()[2])
    assert runs[0] > killed_fence
    assert "retried" in outcomes
    record = store.get("reliability#file.csv")
    assert record is not None
    assert (record.status, record.result) == (LockStatus.COMPLETED, '"retried"')
    assert [line.split()[0] for line in ledger.read_text().splitlines()] == ["started"]


@pytest.mark.slow
def test_a_paused_owner_is_refused_after_a_takeover(dynamodb_local: str, tmp_path: Path) -> None:
    """A worker paused past its lease while another takes over: its complete is refused
    (LockLostError), the new owner's record is intact, and the new fence is higher."""
    store = fresh_table(dynamodb_local)
    ledger = tmp_path / "ledger"
    worker = spawn(dynamodb_local, store, "job", ledger, hold=LEASE_S + 2.5)
    stale_fence = int(wait_for(ledger, "started")[0].split()[2])
    time.sleep(LEASE_S + 0.2)

    fences: list[int] = []

    @idempotent(lambda key: key, store=store, namespace="reliability", lease=30)
    def takeover(key: str) -> str:
        held = current_lock()
        assert held is not None
        fences.append(held.fence)
        return "new owner"

    assert takeover("job") == "new owner"
    assert worker.wait(timeout=60) == 0

    lines = ledger.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["started", "finished", "error"]
    assert lines[-1].endswith("LockLostError")
    assert fences[0] > stale_fence
    record = store.get("reliability#job")
    assert record is not None
    assert (record.status, record.result, record.fence) == (
        LockStatus.COMPLETED,
        '"new owner"',
        fences[0],
    )
