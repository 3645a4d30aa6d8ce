"""``idemlock ls``, ``show`` and ``stats``: what is in the lock table, and what is stuck."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from idemlock.cli.common import (
    Refused,
    add_connection_flags,
    human_duration,
    is_stale,
    iso,
    lease_left_ms,
    now_ms,
    print_json,
    print_table,
    record_json,
    store_for,
    with_progress,
)
from idemlock.keys import SEPARATOR, storage_key
from idemlock.record import Record, Status


def register(commands: Any) -> None:
    """Add ``ls``, ``show`` and ``stats``."""
    ls = commands.add_parser("ls", help="list lock items")
    add_connection_flags(ls)
    ls.add_argument(
        "--status", type=str.upper, choices=[s.value for s in Status], help="only this status"
    )
    ls.add_argument(
        "--stale", action="store_true", help="only IN_PROGRESS items past their lease (crashed)"
    )
    ls.add_argument("--prefix", help="only keys starting with this")
    ls.add_argument("--namespace", help="only keys of this namespace (NAMESPACE#...)")
    ls.add_argument("--limit", type=int, default=100, help="at most this many items (0: all)")
    _scan_flags(ls)
    ls.set_defaults(run=run_ls)

    show = commands.add_parser("show", help="every attribute of one item")
    add_connection_flags(show)
    show.add_argument("key", metavar="KEY", help="the stored key (namespace#key), or the key")
    show.add_argument("--namespace", help="KEY is a key of this namespace")
    show.set_defaults(run=run_show)

    stats = commands.add_parser("stats", help="counts per status, stale items, oldest claim")
    add_connection_flags(stats)
    _scan_flags(stats)
    stats.set_defaults(run=run_stats)


def _scan_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--page-size", type=int, default=None, help="items per Scan request")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="count scanned items on stderr (default: when stderr is a terminal)",
    )


def run_ls(args: argparse.Namespace) -> int:
    """List items matching the filters, newest claim first."""
    if args.limit < 0:
        raise argparse.ArgumentTypeError("--limit must be >= 0")
    store = store_for(args)
    prefix = f"{args.namespace}{SEPARATOR}" if args.namespace else args.prefix
    at = now_ms()
    found: list[Record] = []
    for record in with_progress(
        store.scan(prefix=prefix, page_size=args.page_size), enabled=args.progress
    ):
        if args.status and record.status.value != args.status:
            continue
        if args.stale and not is_stale(record, at):
            continue
        found.append(record)
        if args.limit and len(found) >= args.limit:
            break
    found.sort(key=lambda record: record.claimed_at_ms, reverse=True)
    if args.output == "json":
        print_json([record_json(record, at) for record in found])
        return 0
    print_table(
        ("KEY", "STATUS", "AGE", "LEASE LEFT", "ATTEMPTS", "FENCE"),
        (
            (
                record.key,
                record.status.value + (" (stale)" if is_stale(record, at) else ""),
                human_duration(at - record.claimed_at_ms),
                _lease_left(record, at),
                str(record.attempts),
                str(record.fence),
            )
            for record in found
        ),
    )
    return 0


def _lease_left(record: Record, at: int) -> str:
    left = lease_left_ms(record, at)
    if left is None:
        return "-"
    return human_duration(left) if left > 0 else f"over {human_duration(left)} ago"


def run_show(args: argparse.Namespace) -> int:
    """Every attribute of one item, times human-readable and in epoch units."""
    store = store_for(args)
    key = storage_key(args.namespace, args.key) if args.namespace else args.key
    record = store.get(key)
    if record is None:
        raise Refused(f"no item with key {key!r} in table {store.table_name!r} (try `idemlock ls`)")
    at = now_ms()
    if args.output == "json":
        print_json(record_json(record, at))
        return 0
    rows = [
        ("key", record.key),
        ("status", record.status.value + (" (stale: lease over)" if is_stale(record, at) else "")),
        ("owner", record.owner),
        ("fence", str(record.fence)),
        ("attempts", str(record.attempts)),
        ("claimed at", _when(record.claimed_at_ms, at)),
    ]
    if record.lease_expires_at_ms is not None:
        rows.append(("lease expires", _when(record.lease_expires_at_ms, at)))
        rows.append(("lease left", _lease_left(record, at)))
    if record.completed_at_ms is not None:
        rows.append(("completed at", _when(record.completed_at_ms, at)))
    if record.expires_at_s is not None:
        rows.append(("expires (TTL)", _when(record.expires_at_s * 1000, at, unit="s")))
    else:
        rows.append(("expires (TTL)", "never (retention: forever)"))
    rows.append(("fingerprint", record.fingerprint or "-"))
    rows.append(("result", _result(record.result)))
    print_table(("ATTRIBUTE", "VALUE"), rows)
    return 0


def _when(epoch_ms: int, at: int, *, unit: str = "ms") -> str:
    epoch = epoch_ms if unit == "ms" else epoch_ms // 1000
    relative = human_duration(at - epoch_ms)
    direction = f"{relative} ago" if epoch_ms <= at else f"in {relative}"
    return f"{iso(epoch_ms)} ({direction}; epoch {unit} {epoch})"


def _result(result: str | None) -> str:
    if result is None:
        return "(not stored)"
    return json.dumps(json.loads(result), ensure_ascii=False)


def run_stats(args: argparse.Namespace) -> int:
    """Counts per status, the stale count and the oldest in-progress claim."""
    store = store_for(args)
    at = now_ms()
    counts: Counter[str] = Counter()
    stale = 0
    oldest: Record | None = None
    for record in with_progress(store.scan(page_size=args.page_size), enabled=args.progress):
        counts[record.status.value] += 1
        if record.status is Status.IN_PROGRESS:
            stale += is_stale(record, at)
            if oldest is None or record.claimed_at_ms < oldest.claimed_at_ms:
                oldest = record
    summary: dict[str, Any] = {
        "table": store.table_name,
        "total": sum(counts.values()),
        "by_status": {status.value: counts[status.value] for status in Status},
        "stale": stale,
        "oldest_in_progress": None
        if oldest is None
        else {"key": oldest.key, "age_s": round((at - oldest.claimed_at_ms) / 1000, 3)},
    }
    if args.output == "json":
        print_json(summary)
        return 0
    rows = [
        ("items", str(summary["total"])),
        *((f"  {status}", str(count)) for status, count in summary["by_status"].items()),
        ("stale (IN_PROGRESS, lease over)", str(stale)),
        (
            "oldest in progress",
            "-"
            if oldest is None
            else f"{oldest.key} (claimed {human_duration(at - oldest.claimed_at_ms)} ago)",
        ),
    ]
    print_table((f"TABLE {store.table_name}", ""), rows)
    return 0
