"""Plots (PNG, matplotlib's Agg backend) and the Markdown tables of ``benchmarks/README.md``."""

from __future__ import annotations

from collections.abc import Sequence
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
    written = [
        _overhead_plot(results["overhead"], directory / "overhead.png"),
        _cold_start_plot(results["cold_start"], directory / "cold_start.png"),
        _batches_plot(results["batches"], directory / "batches.png"),
        _endtoend_plot(results["endtoend"], directory / "endtoend.png"),
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
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    sizes = [int(s) for s in batches["sizes"]]
    for name in LIBRARIES:
        rows = [batches["sizes"][str(s)][name] for s in sizes]
        medians = [row["overhead_ms"]["median"] for row in rows]
        lows = [m - row["overhead_ms"]["min"] for m, row in zip(medians, rows, strict=True)]
        highs = [row["overhead_ms"]["max"] - m for m, row in zip(medians, rows, strict=True)]
        left.errorbar(
            sizes, medians, yerr=[lows, highs], marker="o", label=name, color=COLORS[name]
        )
        right.plot(sizes, [row["per_record_ms"] for row in rows], marker="o", color=COLORS[name])
    for axes in (left, right):
        axes.set_xscale("log")
        axes.set_xlabel("records per batch")
    left.set_yscale("log")
    left.set_ylabel("idempotency overhead, ms (wall)")
    right.set_ylabel("ms per record")
    right.set_ylim(bottom=0)
    left.legend()
    figure.suptitle(
        f"Stream batches, {batches['latency_each_way_ms']:.0f} ms each way per chunk "
        f"(one call ≈ {batches['round_trip_ms']['median']:.0f} ms)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


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
        "",
        *_round_trips_table(results["round_trips"]),
        "",
        *_overhead_table(results["overhead"]),
        "",
        *_cold_start_table(results["cold_start"]),
        "",
        *_batches_table(results["batches"]),
        "",
        *_contention_table(results["contention"]),
        "",
        *_endtoend_table(results["endtoend"]),
        "",
        *_capacity_table(results["capacity"]),
        "",
        *_hooks_table(results["hooks"]),
    ]
    if runs:
        lines += ["", *_history_table(runs)]
    return "\n".join(lines)


def _history_table(runs: Sequence[dict[str, Any]]) -> list[str]:
    def extent(pair: Sequence[float] | None) -> str:
        return "—" if pair is None else f"{pair[0]:.2f}–{pair[1]:.2f}×"

    lines = [
        f"**Over the last {len(runs)} full runs** (`results/history.jsonl`; host speed as above, "
        "blank for runs before it was recorded): ratios idemlock ÷ Powertools, min–max over "
        "the paths; batches as Powertools' overhead ÷ idemlock's",
        "",
        "| date | commit | host speed ms | library code | end to end CPU (shared; own) "
        "| end to end wall (shared; own) | batch 100 records | batch 1,000 records |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        e2e = run.get("endtoend", {})
        shared, own = e2e.get("shared", {}), e2e.get("default", {})
        batches = run["batch_speedup"]
        lines.append(
            f"| {run['date']} | {run.get('commit') or '?'} | {run.get('host_speed_ms') or ''} "
            f"| {extent(run['overhead_ratio'])} "
            f"| {extent(shared.get('cpu'))}; {extent(own.get('cpu'))} "
            f"| {extent(shared.get('wall'))}; {extent(own.get('wall'))} "
            f"| {batches.get('100', 0):.1f}× | {batches.get('1000', 0):.1f}× |"
        )
    return lines


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
        f"**4. Stream batches** through a proxy adding {batches['latency_each_way_ms']:.0f} ms "
        f"each way per chunk (one GetItem through it: "
        f"{batches['round_trip_ms']['median']:.1f} ms); no-op bodies; overhead = wall time minus "
        f"the same handler without idempotency; median [min–max]",
        "",
        "| records | idemlock ms | Powertools ms | idemlock ms/record | Powertools ms/record "
        "| calls (each) | Powertools / idemlock |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, row in batches["sizes"].items():
        i, p = row["idemlock"], row["powertools"]
        lines.append(
            f"| {size} | {_spread(i['overhead_ms'], '{:.0f}')} | "
            f"{_spread(p['overhead_ms'], '{:.0f}')} | {i['per_record_ms']:.2f} | "
            f"{p['per_record_ms']:.2f} | {i['round_trips']} / {p['round_trips']} | "
            f"{row['speedup']:.1f}× |"
        )
    floor = batches.get("cpu_floor")
    if floor:
        for size, row in floor["sizes"].items():
            lines += [
                "",
                f"Without the proxy's latency ({size} records straight to DynamoDB Local): "
                f"idemlock {row['idemlock']['overhead_ms']['median']:.0f} ms, Powertools "
                f"{row['powertools']['overhead_ms']['median']:.0f} ms: the CPU cost of client and "
                f"server sharing this machine's cores, a floor under idemlock's figures above.",
            ]
    return lines


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
