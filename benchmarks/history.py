"""The headline figures of every full run, one JSON line each, so ranges span runs, not one.

A single run on a shared VM can be a good or a bad day: the README's figures are given as the
range over the recent runs kept in ``results/history.jsonl`` (with each run's host speed, see
:func:`benchmarks.common.host_speed`), and the full tables as they came out of the last one.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

HISTORY = ROOT / "benchmarks" / "results" / "history.jsonl"
RECENT_RUNS = 5
"""How many of the latest runs the README's ranges cover."""
ORDERED_SOURCE = "kinesis"
"""The batch source whose speed-up the history's batch columns follow."""


def headline(results: dict[str, Any], commit: str | None = None) -> dict[str, Any]:
    """The figures of one run that the README quotes, with when, where and what was measured."""
    meta = results["meta"]
    row: dict[str, Any] = {
        "date": meta["date"],
        "commit": commit or _commit(),
        "host_speed_ms": meta.get("host_speed_ms"),
        "overhead_ratio": _extent(p["ratio"] for p in results["overhead"]["paths"].values()),
        # Unrounded: the report rounds once, as the run's own tables do. The ordered batch
        # (Kinesis; DynamoDB stream records in runs before 2026-12-07) by size, then every case.
        "batch_speedup": {
            size: row["speedup"]
            for size, row in results["batches"]["sources"][ORDERED_SOURCE]["sizes"].items()
        },
        "batch_speedups": _per_case(results["batches"], lambda row: row["speedup"]),
        "batch_vs_floor": _per_case(results["batches"], lambda row: row["vs_floor"]),
    }
    measured = _per_case(results["batches"], lambda row: row.get("vs_floor_measured"))
    if all(ratios is not None for sizes in measured.values() for ratios in sizes.values()):
        row["batch_vs_floor_measured"] = measured
    batch_cpu = results.get("batch_cpu")
    if batch_cpu is not None:
        row["batch_cpu_ratio"] = {
            source: entry["cpu_ratio"] for source, entry in batch_cpu["sources"].items()
        }
    endtoend = results.get("endtoend")
    if endtoend is not None:
        row["endtoend"] = {
            setup: {
                measure: _extent(path[f"{measure}_us_ratio"] for path in paths.values())
                for measure in ("cpu", "wall")
            }
            for setup, paths in endtoend["setups"].items()
        }
    return row


def _per_case(
    batches: dict[str, Any], figure: Callable[[dict[str, Any]], Any]
) -> dict[str, dict[str, Any]]:
    return {
        source: {size: figure(row) for size, row in entry["sizes"].items()}
        for source, entry in batches["sources"].items()
    }


def append(results: dict[str, Any], path: Path = HISTORY) -> None:
    """Add one full run's headline to the history."""
    with path.open("a") as history:
        history.write(json.dumps(headline(results)) + "\n")


def recent(path: Path = HISTORY, runs: int = RECENT_RUNS) -> list[dict[str, Any]]:
    """The latest ``runs`` headlines, oldest first (none when there is no history yet)."""
    if not path.is_file():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines[-runs:]]


def _extent(values: Any) -> list[float]:
    ordered = sorted(values)
    return [ordered[0], ordered[-1]]


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None
