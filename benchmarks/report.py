"""Plots (PNG, matplotlib's Agg backend) and the Markdown tables of ``benchmarks/README.md``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.common import LIBRARIES, PATH_LABELS, PATHS

START = "<!-- results:start -->"
END = "<!-- results:end -->"
COLORS = {"idemlock": "#1f77b4", "powertools": "#ff7f0e"}


def plots(results: dict[str, Any], directory: Path) -> list[Path]:
    """Write one PNG per measured quantity; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    drawers = (
        ("overhead", _overhead_plot),
        ("cold_start", _cold_start_plot),
        ("batches", _batches_plot),
        ("endtoend", _endtoend_plot),
    )
    written = [
        draw(results[section], directory / f"{section}.png")
        for section, draw in drawers
        if section in results
    ]
    plt.close("all")
    return written


def _overhead_plot(overhead: dict[str, Any], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(8, 4))
    width = 0.38
    for offset, name in enumerate(LIBRARIES):
        medians = [overhead["paths"][p][name]["library_us"]["median"] for p in PATHS]
        lows = [
            m - overhead["paths"][p][name]["library_us"]["min"]
            for p, m in zip(PATHS, medians, strict=True)
        ]
        highs = [
            overhead["paths"][p][name]["library_us"]["max"] - m
            for p, m in zip(PATHS, medians, strict=True)
        ]
        axes.bar(
            [i + (offset - 0.5) * width for i in range(len(PATHS))],
            medians,
            width,
            yerr=[lows, highs],
            label=name,
            color=COLORS[name],
            capsize=3,
        )
    axes.set_xticks(range(len(PATHS)), [PATH_LABELS[p].replace(" of ", "\nof ") for p in PATHS])
    axes.tick_params(axis="x", labelsize=8)
    axes.set_ylabel("µs per call (library code only)")
    axes.set_title("Library overhead per call, in-memory DynamoDB stand-in")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def _cold_start_plot(cold: dict[str, Any], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(8, 4))
    names = list(cold["variants"])
    medians = [cold["variants"][n]["ms"]["median"] for n in names]
    lows = [m - cold["variants"][n]["ms"]["q1"] for n, m in zip(names, medians, strict=True)]
    highs = [cold["variants"][n]["ms"]["q3"] - m for n, m in zip(names, medians, strict=True)]
    colors = [
        COLORS["idemlock"]
        if "idemlock" in n
        else COLORS["powertools"]
        if "powertools" in n
        else "#999999"
        for n in names
    ]
    axes.barh(range(len(names)), medians, xerr=[lows, highs], color=colors, capsize=3)
    axes.set_yticks(range(len(names)), names)
    axes.tick_params(axis="y", labelsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(f"ms in a fresh interpreter (median of {cold['runs']}, IQR)")
    axes.set_title("Cold start: import and set up")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def _batches_plot(batches: dict[str, Any], path: Path) -> Path:
    cases = [
        (source, size, row)
        for source, entry in batches["sources"].items()
        for size, row in entry["sizes"].items()
    ]
    figure, axes = plt.subplots(figsize=(9, 4))
    width = 0.38
    for offset, name in enumerate(LIBRARIES):
        medians = [row[name]["overhead_ms"]["median"] for _, _, row in cases]
        spreads = [row[name]["overhead_ms"] for _, _, row in cases]
        lows = [stats["median"] - stats["min"] for stats in spreads]
        highs = [stats["max"] - stats["median"] for stats in spreads]
        axes.bar(
            [i + (offset - 0.5) * width for i in range(len(cases))],
            [max(m, 0.1) for m in medians],
            width,
            yerr=[lows, highs],
            label=name,
            color=COLORS[name],
            capsize=3,
        )
    for shape, marker in (("single", "_"), ("batched", "x")):
        axes.scatter(
            range(len(cases)),
            [row["floor"][shape]["overhead_ms"] for _, _, row in cases],
            marker=marker,
            s=200,
            color="#333333",
            label=f"floor, {_per_request(shape)} per request",
        )
    measured = [
        (i, row["floor_measured"]) for i, (_, _, row) in enumerate(cases) if "floor_measured" in row
    ]
    for shape, marker in (("single", "o"), ("batched", "D")) if measured else ():
        axes.scatter(
            [i for i, _ in measured],
            [floor[shape]["wall_ms"]["median"] for _, floor in measured],
            marker=marker,
            s=40,
            facecolors="none",
            edgecolors="#333333",
            label=f"floor measured here, {_per_request(shape)} per request",
        )
    axes.set_xticks(range(len(cases)), [f"{source}\n{size}" for source, size, _ in cases])
    axes.tick_params(axis="x", labelsize=8)
    axes.set_yscale("log")
    axes.set_ylabel("idempotency overhead, ms (wall)")
    axes.legend(fontsize=8)
    axes.set_title(
        f"Batches, {batches['latency_each_way_ms']:.0f} ms each way per chunk "
        f"(one call ≈ {batches['round_trip_ms']['median']:.0f} ms)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def _per_request(shape: str) -> str:
    """How many writes a request carries in the named floor."""
    return "1 write" if shape == "single" else "25 statements"


def _endtoend_plot(endtoend: dict[str, Any], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(8, 4))
    width = 0.2
    series = [(setup, measure) for setup in endtoend["setups"] for measure in ("cpu_us", "wall_us")]
    for offset, (setup, measure) in enumerate(series):
        ratios = [endtoend["setups"][setup][p][f"{measure}_ratio"] for p in PATHS]
        axes.bar(
            [i + (offset - 1.5) * width for i in range(len(PATHS))],
            ratios,
            width,
            label=f"{'client CPU' if measure == 'cpu_us' else 'wall'}, {setup} client",
        )
    axes.axhline(1.0, color="#333333", linewidth=1)
    axes.set_xticks(range(len(PATHS)), [PATH_LABELS[p].replace(" of ", "\nof ") for p in PATHS])
    axes.tick_params(axis="x", labelsize=8)
    axes.set_ylabel("idemlock ÷ Powertools per call (below 1: idemlock ahead)")
    axes.set_title("End to end on DynamoDB Local, per call")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


# -- Markdown ----------------------------------------------------------------------------------


def markdown(results: dict[str, Any], runs: Sequence[dict[str, Any]] = ()) -> str:
    """The results section of the README: one run's tables, and the recent runs' headlines."""
    meta = results["meta"]
    versions = meta["versions"]
    lines = [
        f"Measured {meta['date']} with `{meta['command']}` on {meta['platform']}, "
        f"{meta['cpu_count']} CPUs (host speed: a fixed Python workload in "
        f"{meta.get('host_speed_ms', '?')} ms, lower is faster; `benchmarks.common.host_speed`); "
        f"Python {meta['python']}, idemlock {versions['idemlock']}, "
        f"aws-lambda-powertools {versions['aws-lambda-powertools']}, boto3 {versions['boto3']}, "
        f"botocore {versions['botocore']}, DynamoDB Local {versions['dynamodb-local']}, "
        f"dynalite {versions['dynalite']}. Raw figures: `{meta['output']}`.",
    ]
    for section, table in _TABLES:
        if section in results:
            lines += ["", *table(results[section])]
    if runs:
        lines += ["", *_history_table(runs)]
    return "\n".join(lines)


def _history_table(runs: Sequence[dict[str, Any]]) -> list[str]:
    def extent(pair: Sequence[float] | None) -> str:
        return "—" if pair is None else f"{pair[0]:.2f}–{pair[1]:.2f}×"

    lines = [
        f"**Over the last {len(runs)} full runs** (`results/history.jsonl`; host speed as above, "
        "blank for runs before it was recorded): ratios idemlock ÷ Powertools, min–max over "
        "the paths; ordered batches (Kinesis; DynamoDB stream records before 2026-12-07) as "
        "Powertools' overhead ÷ idemlock's; every batch case's overhead ÷ its floor with 25 "
        "statements per request, computed and measured on this server, and batch client CPU per "
        "record idemlock ÷ Powertools, min–max (— before they were measured)",
        "",
        "| date | commit | host speed ms | library code | end to end CPU (shared; own) "
        "| end to end wall (shared; own) | batch 100 records | batch 1,000 records "
        "| batches ÷ floor | batches ÷ measured floor | batch CPU / record |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        e2e = run.get("endtoend", {})
        shared, own = e2e.get("shared", {}), e2e.get("default", {})
        batches = run["batch_speedup"]
        cpu = list(run.get("batch_cpu_ratio", {}).values())
        lines.append(
            f"| {run['date']} | {run.get('commit') or '?'} | {run.get('host_speed_ms') or ''} "
            f"| {extent(run['overhead_ratio'])} "
            f"| {extent(shared.get('cpu'))}; {extent(own.get('cpu'))} "
            f"| {extent(shared.get('wall'))}; {extent(own.get('wall'))} "
            f"| {batches.get('100', 0):.1f}× | {batches.get('1000', 0):.1f}× "
            f"| {extent(_batched_extent(run.get('batch_vs_floor')))} "
            f"| {extent(_batched_extent(run.get('batch_vs_floor_measured')))} "
            f"| {extent([min(cpu), max(cpu)] if cpu else None)} |"
        )
    return lines


def _batched_extent(cases: dict[str, Any] | None) -> list[float] | None:
    """The least and the most of every case's ratio to its 25-statement floor (``None``: none)."""
    ratios = [shapes["batched"] for sizes in (cases or {}).values() for shapes in sizes.values()]
    return [min(ratios), max(ratios)] if ratios else None


def _round_trips_table(round_trips: dict[str, Any]) -> list[str]:
    servers = list(round_trips)
    header = "| path | " + " | ".join(f"idemlock ({s}) | Powertools ({s})" for s in servers) + " |"
    lines = [
        "**1. Round trips per call** (HTTP requests counted by botocore's `before-send`; "
        "operations in order)",
        "",
        header,
        "|---|" + "---|" * (2 * len(servers)),
    ]
    for path in PATHS:
        cells = []
        for server in servers:
            for name in LIBRARIES:
                row = round_trips[server][name][path]
                ops = ", ".join(row["operations"])
                cells.append(f"{row['calls']} ({ops})" + ("" if row["stable"] else " unstable"))
        lines.append(f"| {PATH_LABELS[path]} | " + " | ".join(cells) + " |")
    return lines


def _overhead_table(overhead: dict[str, Any]) -> list[str]:
    lines = [
        f"**2. Library overhead per call**, µs of library code per call on the in-memory "
        f"stand-in (its own time taken out), median of {overhead['repeats']} repeats × "
        f"{overhead['calls_per_repeat']} calls, the libraries taking turns in blocks of "
        f"{overhead['block']} "
        f"[min–max of the repeats' medians; of the repeats' ratios]",
        "",
        "| path | idemlock µs | Powertools µs | idemlock / Powertools |",
        "|---|---|---|---|",
    ]
    for path in PATHS:
        row = overhead["paths"][path]
        cells = [_spread(row[name]["library_us"], "{:.1f}") for name in LIBRARIES]
        ratio = _spread(row["ratio_spread"], "{:.2f}")
        lines.append(f"| {PATH_LABELS[path]} | {cells[0]} | {cells[1]} | {ratio} |")
    return lines


def _cold_start_table(cold: dict[str, Any]) -> list[str]:
    lines = [
        f"**3. Cold start** in a fresh interpreter, median of {cold['runs']} runs [IQR]",
        "",
        "| what | wall ms | `-X importtime` ms | modules added |",
        "|---|---|---|---|",
    ]
    for name, row in cold["variants"].items():
        lines.append(
            f"| {name} | {_spread(row['ms'], '{:.1f}', 'q1', 'q3')} | "
            f"{row['importtime_ms']['median']:.1f} | {row['modules']} |"
        )
    derived = cold["derived"]
    lines += [
        "",
        f"Added to `import boto3` by a handler module's import (library, store, one decorated "
        f"handler): idemlock {derived['idemlock_handler_on_top_of_boto3_import_ms']:.1f} ms, "
        f"Powertools {derived['powertools_handler_on_top_of_boto3_import_ms']:.1f} ms. "
        f"idemlock ready to call minus `boto3` import + client: "
        f"{derived['idemlock_ready_minus_boto3_client_ms']:+.1f} ms; minus botocore import + "
        f"client: {derived['idemlock_ready_minus_botocore_client_ms']:+.1f} ms. Powertools minus "
        f"`boto3` import + client: {derived['powertools_minus_boto3_client_ms']:+.1f} ms. "
        f"On top of boto3 + a client already loaded (most handlers): idemlock "
        f"{derived['idemlock_on_top_of_boto3_ms']:.1f} ms, Powertools "
        f"{derived['powertools_on_top_of_boto3_ms']:.1f} ms. "
        f"idemlock / Powertools, ready to call from nothing: "
        f"{derived['ratio_ready_idemlock_to_powertools']:.2f}.",
    ]
    return lines


def _batches_table(batches: dict[str, Any]) -> list[str]:
    lines = [
        f"**4. Batches** through a proxy adding {batches['latency_each_way_ms']:.0f} ms each way "
        f"per chunk (one GetItem through it: {batches['round_trip_ms']['median']:.1f} ms); no-op "
        "bodies; overhead = wall time minus the same handler without idempotency, median of "
        f"{batches['repeats']} repeats [min–max]; the floor's overhead = (claim waves + the last "
        "complete) × the round trip, at idemlock's default concurrency of "
        f"{batches['concurrency']} requests in flight, with one write per request / 25 "
        "statements per request (`benchmarks/floor.py`); the floor measured on this server = "
        "the wall time of the floor's own requests sent bare in the same repeats, same "
        "concurrency (`benchmarks/measured_floor.py`; — where not measured); SQS FIFO in "
        f"{batches['fifo_groups']} message groups",
        "",
        "| source | records | idemlock ms | Powertools ms | Powertools ÷ idemlock "
        "| floor ms (1 / 25 per request) | idemlock ÷ floor (1 / 25) "
        "| requests (idemlock / Powertools) | floor measured on this server ms (1 / 25) "
        "| idemlock ÷ measured floor (1 / 25) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in batches["sources"].values():
        for size, row in entry["sizes"].items():
            lines.append(
                f"| {entry['label']} | {size} | {_batch_cells(row)} | {_measured_cells(row)} |"
            )
    return [*lines, "", *_failing_table(batches["failing"]), "", *_redelivered_table(batches)]


def _batch_cells(row: dict[str, Any]) -> str:
    i, p, floor = row["idemlock"], row["powertools"], row["floor"]
    return (
        f"{_spread(i['overhead_ms'], '{:.0f}')} | {_spread(p['overhead_ms'], '{:.0f}')} "
        f"| {row['speedup']:.1f}× "
        f"| {floor['single']['overhead_ms']:.0f} / {floor['batched']['overhead_ms']:.0f} "
        f"| {row['vs_floor']['single']:.1f}× / {row['vs_floor']['batched']:.1f}× "
        f"| {i['round_trips']} / {p['round_trips']}"
    )


def _measured_cells(row: dict[str, Any]) -> str:
    """The floor measured on this server and idemlock's overhead ÷ it, both request shapes."""
    floor = row.get("floor_measured")
    if floor is None:  # results from before it was measured
        return "— | —"
    single, batched = floor["single"]["wall_ms"], floor["batched"]["wall_ms"]
    ratios = row["vs_floor_measured"]
    return (
        f"{_spread(single, '{:.0f}')} / {_spread(batched, '{:.0f}')} "
        f"| {ratios['single']:.1f}× / {ratios['batched']:.1f}×"
    )


def _failing_table(failing: dict[str, Any]) -> list[str]:
    lines = [
        f"A failing record in the middle: the body of record {failing['records'] // 2} (from 0) "
        f"of {failing['records']} raises; records reported for a retry, by position",
        "",
        "| source | idemlock ms | Powertools ms | Powertools ÷ idemlock "
        "| floor ms (1 / 25 per request) | idemlock ÷ floor (1 / 25) "
        "| requests (idemlock / Powertools) | reported (idemlock; Powertools) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in failing["sources"].values():
        reported = "; ".join(
            _positions(row[name]["failed_positions"]) for name in ("idemlock", "powertools")
        )
        lines.append(f"| {row['label']} | {_batch_cells(row)} | {reported} |")
    return lines


def _positions(positions: list[int]) -> str:
    if len(positions) > 3:
        return f"{positions[0]}–{positions[-1]} ({len(positions)})"
    return ", ".join(str(position) for position in positions) or "none"


def _redelivered_table(batches: dict[str, Any]) -> list[str]:
    redelivered = batches["redelivered"]
    lines = [
        f"A redelivered batch: {redelivered['records']} records that all completed before, "
        "without and with each library's local cache (warmed by the first delivery); overhead "
        "in round trips = idemlock's median overhead ÷ one round trip",
        "",
        "| source | local cache | idemlock ms | Powertools ms | requests (idemlock / Powertools) "
        "| idemlock overhead in round trips |",
        "|---|---|---|---|---|---|",
    ]
    for entry in redelivered["sources"].values():
        for variant, row in entry["variants"].items():
            i, p = row["idemlock"], row["powertools"]
            lines.append(
                f"| {entry['label']} | {'on' if variant == 'local_cache' else 'off'} "
                f"| {_spread(i['overhead_ms'], '{:.0f}')} "
                f"| {_spread(p['overhead_ms'], '{:.0f}')} "
                f"| {i['round_trips']} / {p['round_trips']} "
                f"| {i['overhead_in_round_trips']:.1f} |"
            )
    return lines


def _batch_cpu_table(cpu: dict[str, Any]) -> list[str]:
    lines = [
        f"**4b. Client CPU per record** of a {cpu['records']}-record batch straight on DynamoDB "
        "Local (no added latency): this process's CPU (`process_time`, every thread: library "
        f"and botocore) ms per record, median of {cpu['repeats']} repeats [min–max], the "
        "libraries taking turns; and the batch's wall time",
        "",
        "| source | idemlock CPU ms/record | Powertools CPU ms/record | idemlock ÷ Powertools "
        "| idemlock wall ms | Powertools wall ms |",
        "|---|---|---|---|---|---|",
    ]
    for row in cpu["sources"].values():
        i, p = row["idemlock"], row["powertools"]
        lines.append(
            f"| {row['label']} | {_spread(i['cpu_ms_per_record'], '{:.2f}')} "
            f"| {_spread(p['cpu_ms_per_record'], '{:.2f}')} | {row['cpu_ratio']:.2f} "
            f"| {_spread(i['wall_ms'], '{:.0f}')} | {_spread(p['wall_ms'], '{:.0f}')} |"
        )
    return lines


def _batch_memory_table(memory: dict[str, Any]) -> list[str]:
    mib = 1024 * 1024
    return [
        f"**4c. A batch of {memory['records']:,} records** ({memory['source']}, idemlock, "
        "first runs, DynamoDB Local without added latency, in a fresh interpreter): Python "
        f"memory at its peak (`tracemalloc`) {memory['traced_peak_bytes'] / mib:.1f} MiB, "
        f"{memory['traced_peak_bytes_per_record']:,.0f} bytes per record; resident set growth "
        f"{memory['rss_growth_kb'] / 1024:.1f} MiB "
        f"({memory['rss_growth_bytes_per_record']:,.0f} bytes per record); threads "
        f"{memory['threads_before']} before, at most {memory['threads_peak']} during; "
        f"{memory['wall_s']:.1f} s wall, {memory['cpu_s']:.1f} s CPU "
        f"({memory['cpu_s'] * 1000 / memory['records']:.2f} ms per record); "
        f"{memory['failures']} records failed.",
    ]


def _contention_table(contention: dict[str, Any]) -> list[str]:
    lines = [
        f"**5. Contention**: workers race on each of {contention['keys']} keys × "
        f"{contention['repeats']} repeats (body {contention['body_ms']:.0f} ms), DynamoDB Local "
        "without added latency; threads share one client, each process has its own; "
        "median [min–max]",
        "",
        "| workers | library | racing calls/s | keys/s | racing calls | executions "
        "| double executions | outcomes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode in ("threads", "processes"):
        workers = contention[mode]["workers"]
        for name in LIBRARIES:
            row = contention[mode][name]
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(row["outcomes"].items()))
            lines.append(
                f"| {workers} {mode} | {name} | {_spread(row['calls_per_s'], '{:.0f}')} | "
                f"{_spread(row['keys_per_s'], '{:.1f}')} | {row['racing_calls']} | "
                f"{row['executions']} | **{row['double_executions']}** | {outcomes} |"
            )
    redeliveries = contention.get("redeliveries")
    if redeliveries:
        lines += ["", *_redeliveries_table(redeliveries)]
    return lines


def _redeliveries_table(redeliveries: dict[str, Any]) -> list[str]:
    lines = [
        f"Consumers redelivered the same batches (as after a shard rebalance): each process is "
        f"delivered all {redeliveries['batches']} batches of {redeliveries['records_per_batch']} "
        f"{redeliveries['source']} records, from a different first batch, at once; a batch "
        "with a failed record is delivered again from it until none fails; body "
        f"{redeliveries['body_ms']:g} ms; {redeliveries['repeats']} repeats, DynamoDB Local "
        "without added latency; write units per distinct record; throughput over the slowest "
        "process; median [min–max]",
        "",
        "| processes | records | executions | double executions | never run | deliveries "
        "| WCU / record | RCU / record | records/s | deliveries/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for processes, row in redeliveries["processes"].items():
        lines.append(
            f"| {processes} | {row['records']} | {row['executions']} "
            f"| **{row['double_executions']}** | {row['records_never_run']} "
            f"| {row['deliveries']} | {_spread(row['wcu_per_record'], '{:.2f}')} "
            f"| {_spread(row['rcu_per_record'], '{:.2f}')} "
            f"| {_spread(row['records_per_s'], '{:.0f}')} "
            f"| {_spread(row['deliveries_per_s'], '{:.0f}')} |"
        )
    return lines


def _endtoend_table(endtoend: dict[str, Any]) -> list[str]:
    lines = [
        f"**6. End to end per call** on DynamoDB Local (no proxy): µs of this process's CPU "
        f"(`process_time`: library and botocore) and of wall time, median over "
        f"{endtoend['rounds']} rounds of {endtoend['calls_per_round']} calls each, the libraries "
        "taking turns call by call "
        "[min–max of the rounds' medians]; *shared*: one botocore client passed to both, "
        "*default*: each library's own client",
        "",
        "| client | path | idemlock CPU µs | Powertools CPU µs | CPU ratio "
        "| idemlock wall µs | Powertools wall µs | wall ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setup, rows in endtoend["setups"].items():
        for path in PATHS:
            row = rows[path]
            cpu = [_spread(row[name]["cpu_us"], "{:.0f}") for name in LIBRARIES]
            wall = [_spread(row[name]["wall_us"], "{:.0f}") for name in LIBRARIES]
            ratios = f"{row['cpu_us_ratio']:.2f}", f"{row['wall_us_ratio']:.2f}"
            lines.append(
                f"| {setup} | {PATH_LABELS[path]} | {cpu[0]} | {cpu[1]} | {ratios[0]} "
                f"| {wall[0]} | {wall[1]} | {ratios[1]} |"
            )
    return lines


def _capacity_table(capacity: dict[str, Any]) -> list[str]:
    price = capacity["price"]
    lines = [
        "**7. Capacity units per call** (DynamoDB's `ConsumedCapacity`; a failed conditional "
        "write counted by DynamoDB's rule from the item it returned), and the on-demand price "
        f"per million calls in {price['region']} (${price['write_per_million_usd']} per million "
        f"write units, ${price['read_per_million_usd']} per million read units, rates since "
        f"{price['since']})",
        "",
        "| path | result | idemlock WCU / RCU | Powertools WCU / RCU "
        "| idemlock $ / million | Powertools $ / million |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in capacity["paths"].items():
        path, size = name.split(":")
        units = [f"{row[lib]['wcu']:g} / {row[lib]['rcu']:g}" for lib in LIBRARIES]
        usd = [f"{row[lib]['usd_per_million']:.3f}" for lib in LIBRARIES]
        result = "none" if size == "0" else f"{int(size) // 1024} KB"
        lines.append(
            f"| {PATH_LABELS[path]} | {result} | {units[0]} | {units[1]} | {usd[0]} | {usd[1]} |"
        )
    lines += [
        "",
        "Hot key: 100 concurrent duplicates of one completed key with a 1 KB result "
        "(16 threads), write units in all:",
        "",
        "| | idemlock | Powertools |",
        "|---|---|---|",
    ]
    for variant, label in (("no_cache", "no local cache"), ("local_cache", "local cache on")):
        cells = [
            f"{capacity['hot_key'][lib][variant]['wcu']:g} "
            f"({capacity['hot_key'][lib][variant]['failed_writes']} failed conditional writes)"
            for lib in LIBRARIES
        ]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return [*lines, "", *_compression_table(capacity["compression"])]


def _compression_table(compression: dict[str, Any]) -> list[str]:
    lines = [
        f"Compression of results over {compression['threshold_bytes']} bytes (zlib, level 6): "
        "the documents above, bytes stored and client CPU µs per compress (each complete) and "
        f"per decompress (each duplicate), best of five medians of {compression['runs']} runs",
        "",
        "| JSON | stored | ratio | compress µs | decompress µs |",
        "|---|---|---|---|---|",
    ]
    for row in compression["sizes"].values():
        lines.append(
            f"| {row['json_bytes'] / 1024:.0f} KB | {row['stored_bytes'] / 1024:.1f} KB "
            f"| {row['json_bytes'] / row['stored_bytes']:.1f}× | {row['compress_us']:.0f} "
            f"| {row['decompress_us']:.0f} |"
        )
    return lines


def _hooks_table(hooks: dict[str, Any]) -> list[str]:
    sinks = hooks["sinks"]
    variants = list(next(iter(sinks["paths"].values())))
    plumbing = sinks.get("plumbing_us")  # results from before the stripped variant lack it
    headers = [*variants, *(["no hook - events stripped"] if plumbing else [])]
    lines = [
        "**8. What watching costs.** idemlock's library code per call (µs, in-memory stand-in, "
        f"median of {sinks['repeats']} repeats × {sinks['calls_per_repeat']} calls "
        "[min–max]) without a sink, with a no-op `on_event`, and with `CloudWatchMetrics`"
        + (
            "; beside them, the no-hook handler with `emit` stripped, and the difference "
            "(paired per repeat: median [min–max])"
            if plumbing
            else ""
        ),
        "",
        "| path | " + " | ".join(headers) + " |",
        "|---|" + "---|" * len(headers),
    ]
    for path, row in sinks["paths"].items():
        cells = [_spread(row[variant], "{:.1f}") for variant in variants]
        if plumbing:
            cells.append(_spread(plumbing[path], "{:+.1f}"))
        lines.append(f"| {PATH_LABELS[path]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Heartbeats: a body held {hooks['heartbeats']['hold_s']:g} s on DynamoDB Local under "
        "`heartbeat=True`",
        "",
        "| lease | extensions | per minute | expected (180 / lease s) |",
        "|---|---|---|---|",
    ]
    for row in hooks["heartbeats"]["leases"].values():
        lines.append(
            f"| {row['lease_s']:g} s | {row['extensions']} | {row['per_minute']:.0f} "
            f"| {row['expected_per_minute']:.0f} |"
        )
    return lines


_TABLES: tuple[tuple[str, Callable[[dict[str, Any]], list[str]]], ...] = (
    ("round_trips", _round_trips_table),
    ("overhead", _overhead_table),
    ("cold_start", _cold_start_table),
    ("batches", _batches_table),
    ("batch_cpu", _batch_cpu_table),
    ("batch_memory", _batch_memory_table),
    ("contention", _contention_table),
    ("endtoend", _endtoend_table),
    ("capacity", _capacity_table),
    ("hooks", _hooks_table),
)
"""Each section's table, in the README's order."""


def _spread(stats: dict[str, float], fmt: str, low: str = "min", high: str = "max") -> str:
    return f"{fmt.format(stats['median'])} [{fmt.format(stats[low])}–{fmt.format(stats[high])}]"


def update_readme(readme: Path, section: str) -> None:
    """Replace what lies between the result markers of ``readme`` with ``section``."""
    text = readme.read_text()
    before, start, rest = text.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise ValueError(f"{readme} lacks the {START} / {END} markers")
    readme.write_text(f"{before}{START}\n{section}\n{END}{after}")
