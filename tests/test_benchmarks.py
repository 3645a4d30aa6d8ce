"""The benchmark command's quick mode runs end to end (CI keeps it from rotting).

No timing is asserted: only that the command exits cleanly and writes every section, and that the
correctness figures it reports hold (floor round trips, no double execution).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from idemlock import DynamoDBStore, idempotent
from idemlock._policy import Policy
from idemlock.events import LockEvent
from idemlock.testing import MemoryStore
from tests.servers import in_ci

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    "meta",
    "round_trips",
    "overhead",
    "cold_start",
    "batches",
    "contention",
    "endtoend",
    "capacity",
    "hooks",
    "recovery",
)


def require_bench_extra() -> None:
    """Skip without the bench extra, except in CI, where its absence is a failure."""
    for module in ("aws_lambda_powertools", "matplotlib"):
        try:
            __import__(module)
        except ImportError:
            if in_ci():
                pytest.fail(f"the benchmarks need {module} in CI: pip install -e '.[bench]'")
            pytest.skip(f"{module} is not installed (pip install -e '.[bench]')")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quick_mode_writes_every_section(tmp_path: Path) -> None:
    require_bench_extra()
    output = tmp_path / "quick.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    if completed.returncode != 0 and "ServerUnavailable" in completed.stderr and not in_ci():
        pytest.skip(f"a DynamoDB server is unavailable locally: {completed.stderr[-500:]}")
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(output.read_text())
    for section in SECTIONS:
        assert section in results, section
    assert results["meta"]["quick"] is True
    for name in ("overhead.png", "cold_start.png", "batches.png", "endtoend.png"):
        assert (tmp_path / name).stat().st_size > 0
    local = results["round_trips"]["dynamodb-local"]["idemlock"]
    assert [local[path]["calls"] for path in local] == [2, 1, 1, 2, 2]
    for mode in ("threads", "processes"):
        for library in ("idemlock", "powertools"):
            race = results["contention"][mode][library]
            assert race["double_executions"] == 0, (mode, library)
            assert race["keys_never_run"] == 0, (mode, library)
            assert (
                race["executions"]
                == results["contention"]["keys"] * results["contention"]["repeats"]
            ), (mode, library)
    for setup in ("shared", "default"):
        assert set(results["endtoend"]["setups"][setup]) == set(local)
    cost = results["capacity"]
    # A first run with no result: one claim, one complete; a duplicate: one failed write.
    assert cost["paths"]["first_run:0"]["idemlock"]["wcu"] == 2
    assert cost["paths"]["duplicate_completed:0"]["idemlock"]["failed_writes"] == 1
    # A failed conditional write is billed by the stored item's size: a 10 KB JSON result's
    # duplicate costs Powertools ten units and more; idemlock stores it compressed, in a third.
    assert cost["paths"]["duplicate_completed:10240"]["powertools"]["wcu"] >= 10
    assert cost["paths"]["duplicate_completed:10240"]["idemlock"]["wcu"] <= 3
    first_runs = cost["paths"]["first_run:10240"]
    assert first_runs["powertools"]["wcu"] >= 3 * first_runs["idemlock"]["wcu"]
    squeezed = cost["compression"]["sizes"]
    assert all(row["stored_bytes"] < row["json_bytes"] for row in squeezed.values())
    # Storable beyond DynamoDB's 400 KB item limit as text, once compressed.
    assert squeezed[str(600 * 1024)]["json_bytes"] > 400 * 1024
    assert squeezed[str(600 * 1024)]["stored_bytes"] < DynamoDBStore.max_result_bytes
    hot = cost["hot_key"]["idemlock"]
    assert hot["no_cache"]["failed_writes"] == 100
    assert hot["local_cache"]["wcu"] == 0  # every duplicate answered from the warm cache
    for row in results["hooks"]["heartbeats"]["leases"].values():
        assert row["extensions"] >= 1  # a held body's lease was extended
    sinks = results["hooks"]["sinks"]
    variants = ["no hook", "events stripped", "no-op on_event", "CloudWatchMetrics"]
    assert [list(row) for row in sinks["paths"].values()] == [variants] * len(local)
    assert list(sinks["plumbing_us"]) == list(sinks["paths"])  # the difference, path by path
    assert "| no hook - events stripped |" in completed.stdout  # the report's new column
    recovery = results["recovery"]  # waiting reads; it never writes while the lease is live
    rows = [*recovery["waiting"].values(), *recovery["hot_key"].values()]
    assert [row["writes_while_waiting"] for row in rows] == [0] * len(rows)


def test_events_stripped_silences_emit_inside_the_block_only() -> None:
    """Section 8's diagnostic swap: inside the block no transition reaches a sink (emit does
    nothing); after it, emit is idemlock's own again and events flow."""
    require_bench_extra()
    from benchmarks import hooks  # noqa: PLC0415  (needs the bench extra)

    events: list[LockEvent] = []

    @idempotent(str, store=MemoryStore(), on_event=events.append)
    def handler(n: int) -> int:
        return n

    emit = Policy.emit
    with hooks.events_stripped():
        handler(1)
    assert events == []
    assert Policy.emit is emit
    handler(2)
    assert [event.kind for event in events] == ["claimed", "completed"]


def test_the_history_keeps_each_full_run_s_headline(tmp_path: Path) -> None:
    """A run's headline goes into the history and comes back as a row of the recent-runs table,
    oldest first; the committed history parses and holds the runs the README's ranges cite."""
    from benchmarks import capacity, history, report  # noqa: PLC0415

    committed = history.recent()
    assert committed, "benchmarks/results/history.jsonl is missing or empty"
    latest = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    # Results written before compression was measured lack its table.
    latest["capacity"].setdefault("compression", capacity.compression(runs=1))
    path = tmp_path / "history.jsonl"
    for speed in (11.0, 12.5):
        latest["meta"]["host_speed_ms"] = speed
        history.append(latest, path)

    runs = history.recent(path, runs=5)
    assert [run["host_speed_ms"] for run in runs] == [11.0, 12.5]
    assert runs[0]["batch_speedup"]["100"] == latest["batches"]["sizes"]["100"]["speedup"]
    low, high = runs[0]["overhead_ratio"]
    assert low <= high
    table = report.markdown(latest, runs)
    assert "**Over the last 2 full runs**" in table
    assert table.count(f"| {latest['meta']['date']} |") == 2
    assert history.recent(tmp_path / "absent.jsonl") == []
