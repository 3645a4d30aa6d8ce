"""The benchmark command's quick mode runs end to end (CI keeps it from rotting).

No timing is asserted: only that the command exits cleanly and writes every section, and that the
correctness figures it reports hold (floor round trips, no double execution).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    "batch_cpu",
    "batch_memory",
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
@pytest.mark.timeout(420)
def test_quick_mode_writes_every_section(tmp_path: Path) -> None:
    require_bench_extra()
    output = tmp_path / "quick.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=410,
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
    _check_batches(results)
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


def _check_batches(results: dict[str, Any]) -> None:
    """The batch sections' correctness figures: no failures where none were made, the floor
    measured in every repeat, the failing record reported, a warm local cache answering a
    redelivery, no double execution."""
    batches = results["batches"]
    for entry in batches["sources"].values():
        for row in entry["sizes"].values():
            for library in ("idemlock", "powertools"):
                assert row[library]["failed_positions"] == []
            assert row["floor"]["batched"]["overhead_ms"] <= row["floor"]["single"]["overhead_ms"]
            for shape in ("single", "batched"):  # measured in every repeat, beside the libraries
                assert row["floor_measured"][shape]["wall_ms"]["n"] == batches["repeats"]
                assert row["vs_floor_measured"][shape] > 0
    for source, row in batches["failing"]["sources"].items():
        middle = batches["failing"]["records"] // 2
        for library in ("idemlock", "powertools"):
            assert row[library]["failed_positions"][0] == middle, (source, library)
    for entry in batches["redelivered"]["sources"].values():
        assert entry["variants"]["local_cache"]["idemlock"]["round_trips"] == 0
    for row in results["batch_cpu"]["sources"].values():
        assert row["idemlock"]["cpu_ms_per_record"]["median"] > 0
    memory = results["batch_memory"]
    assert memory["failures"] == 0
    assert memory["threads_peak"] <= memory["threads_before"] + 32  # bounded by concurrency
    for row in results["contention"]["redeliveries"]["processes"].values():
        assert row["double_executions"] == 0
        assert row["records_never_run"] == 0


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
    # Results written before compression was measured lack its table; before 2026-12-07 the
    # batches were stream records only, and the batch CPU and memory sections did not exist.
    latest["capacity"].setdefault("compression", capacity.compression(runs=1))
    if "sources" not in latest["batches"]:
        latest["batches"] = _sample_batches()
    path = tmp_path / "history.jsonl"
    for speed in (11.0, 12.5):
        latest["meta"]["host_speed_ms"] = speed
        history.append(latest, path)

    runs = history.recent(path, runs=5)
    assert [run["host_speed_ms"] for run in runs] == [11.0, 12.5]
    kinesis = latest["batches"]["sources"]["kinesis"]["sizes"]
    assert runs[0]["batch_speedup"]["100"] == kinesis["100"]["speedup"]
    assert runs[0]["batch_vs_floor"]["kinesis"]["100"] == kinesis["100"]["vs_floor"]
    low, high = runs[0]["overhead_ratio"]
    assert low <= high
    table = report.markdown(latest, [*committed, *runs])
    assert "**Over the last" in table
    assert table.count("| 11.0 |") == table.count("| 12.5 |") == 1  # the two new rows
    assert "| — | — |" in table  # runs before the floor and CPU columns read as not measured
    assert "| Kinesis (ordered) | 100 |" in table
    assert history.recent(tmp_path / "absent.jsonl") == []


def test_the_batches_table_sets_idemlock_against_the_floor_measured_here(tmp_path: Path) -> None:
    """A case whose floor was measured shows that floor's wall and idemlock's overhead ÷ it; a
    case from before it was measured reads — there; the history keeps the ratios of a run that
    measured every case."""
    from benchmarks import history, report  # noqa: PLC0415
    from benchmarks.floor import measured  # noqa: PLC0415

    latest = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    batches = _sample_batches()
    sizes = batches["sources"]["kinesis"]["sizes"]
    sizes["1000"] = dict(sizes["100"])  # measured before the floor was: no measured figures
    sizes["100"]["floor_measured"] = {
        "single": measured([380.0, 420.0], rtt_ms=20.0),
        "batched": measured([100.0, 120.0], rtt_ms=20.0),
    }
    sizes["100"]["vs_floor_measured"] = {"single": 0.5, "batched": 2.0}
    latest["batches"] = batches
    table = report.markdown(latest)
    to, times = "\N{EN DASH}", "\N{MULTIPLICATION SIGN}"  # as the report prints them
    assert f"| 400 [380{to}420] / 110 [100{to}120] | 0.5{times} / 2.0{times} |" in table
    assert "| 200 / 200 | — | — |" in table  # the 1,000-record case: not measured

    del sizes["1000"]
    path = tmp_path / "history.jsonl"
    history.append(latest, path)
    runs = history.recent(path)
    assert runs[0]["batch_vs_floor_measured"]["kinesis"]["100"] == {"single": 0.5, "batched": 2.0}
    assert f"| 2.00{to}2.00{times} |" in report.markdown(latest, runs)


def _sample_batches() -> dict[str, Any]:
    """A batches section of the current shape, with made-up figures (one source, one size)."""
    from benchmarks.common import summary  # noqa: PLC0415
    from benchmarks.floor import floors  # noqa: PLC0415

    def case(idemlock_ms: float, powertools_ms: float) -> dict[str, Any]:
        floor = floors(100, 32, rtt_ms=20.0, bodies_ms=1.0)
        row: dict[str, Any] = {
            name: {
                "overhead_ms": summary([ms, ms * 1.1]),
                "round_trips": 200,
                "failed_positions": [],
                "overhead_in_round_trips": ms / 20.0,
            }
            for name, ms in (("idemlock", idemlock_ms), ("powertools", powertools_ms))
        }
        row["speedup"] = powertools_ms / idemlock_ms
        row["floor"] = floor
        row["vs_floor"] = {
            shape: idemlock_ms / floor[shape]["overhead_ms"] for shape in ("single", "batched")
        }
        return row

    return {
        "latency_each_way_ms": 5.0,
        "round_trip_ms": summary([20.0]),
        "concurrency": 32,
        "repeats": 2,
        "fifo_groups": 10,
        "sources": {
            "kinesis": {
                "label": "Kinesis (ordered)",
                "ordered": True,
                "sizes": {"100": case(200.0, 4000.0)},
            }
        },
        "failing": {
            "records": 100,
            "sources": {"kinesis": {"label": "Kinesis (ordered)", **case(150.0, 4000.0)}},
        },
        "redelivered": {
            "records": 100,
            "sources": {
                "kinesis": {
                    "label": "Kinesis (ordered)",
                    "variants": {"no_cache": case(80.0, 2000.0), "local_cache": case(1.0, 1.0)},
                }
            },
        },
    }
