"""``idemlock ls``, ``show`` and ``stats``: what is in the lock table, and what is stuck."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

from idemlock.cli import items
from idemlock.cli.common import (
    Refused,
    add_common_flags,
    add_scan_flags,
    count,
    human_duration,
    is_stale,
    iso,
    item_key,
    lease_left_ms,
    now_ms,
    print_json,
    print_table,
    record_json,
    store_for,
)
from idemlock.cli.items import Foreign, Item
from idemlock.item import LockItem, LockStatus
from idemlock.keys import SEPARATOR, storage_key

TABLE_LIMIT: Final = 100
"""Rows ``ls`` prints for people by default; scripts (``--output json``) get every item."""


def register(commands: Any) -> None:
    """Add ``ls``, ``show`` and ``stats``."""
    ls = commands.add_parser("ls", help="list lock items, newest claim first")
    add_common_flags(ls)
    ls.add_argument(
        "--status", type=str.upper, choices=[s.value for s in LockStatus], help="only this status"
    )
    ls.add_argument(
        "--stale", action="store_true", help="only IN_PROGRESS items past their lease (crashed)"
    )
    ls.add_argument("--foreign", action="store_true", help="only items idemlock did not write")
    ls.add_argument("--prefix", help="only keys starting with this")
    ls.add_argument("--namespace", help="only keys of this namespace (NAMESPACE#...)")
    ls.add_argument(
        "--limit",
        type=count(0),
        default=None,
        help=f"at most this many items, the newest (default: {TABLE_LIMIT} in a table, all "
        "with --output json; 0: all)",
    )
    add_scan_flags(ls)
    ls.set_defaults(run=run_ls)

    show = commands.add_parser("show", help="every attribute of one item")
    add_common_flags(show)
    show.add_argument(
        "key", metavar="KEY", type=item_key, help="the stored key (namespace#key), or the key"
    )
    show.add_argument("--namespace", help="KEY is a key of this namespace")
    show.set_defaults(run=run_show)

    stats = commands.add_parser("stats", help="counts per status, stale items, oldest claim")
    add_common_flags(stats)
    add_scan_flags(stats)
    stats.set_defaults(run=run_stats)


def run_ls(args: argparse.Namespace) -> int:
    """List the items matching the filters, newest claim first, over the whole table.

    Every matching item is read and sorted before the limit applies, so the newest are the
    newest of the table, not of the first pages read; a cut list says so on stderr.
    """
    store = store_for(args)
    items.check_table(store)
    prefix = f"{args.namespace}{SEPARATOR}" if args.namespace else args.prefix
    at = now_ms()
    found = sorted(
        (
            item
            for item in items.scan(
                store, prefix=prefix, page_size=args.page_size, progress=args.progress
            )
            if _matches(item, args, at)
        ),
        key=_newest_first,
    )
    limit = args.limit if args.limit is not None else (0 if args.output == "json" else TABLE_LIMIT)
    shown = found[:limit] if limit else found
    if len(shown) < len(found):
        print(
            f"showing the {len(shown)} newest of {len(found)} matching items; "
            "--limit 0 lists them all",
            file=sys.stderr,
        )
    if args.output == "json":
        print_json([_item_json(item, at) for item in shown])
        return 0
    print_table(
        ("KEY", "STATUS", "AGE", "LEASE LEFT", "ATTEMPTS", "FENCE"),
        (_row(item, at) for item in shown),
    )
    return 0


def _matches(item: Item, args: argparse.Namespace, at: int) -> bool:
    if isinstance(item, Foreign):
        return not (args.status or args.stale)
    if args.foreign:
        return False
    if args.status and item.status.value != args.status:
        return False
    return not args.stale or is_stale(item, at)


def _newest_first(item: Item) -> tuple[int, int, str]:
    """Records by claim time, newest first; foreign items (no claim time) after them."""
    if isinstance(item, Foreign):
        return (1, 0, item.key)
    return (0, -item.claimed_at_ms, item.key)


def _item_json(item: Item, at: int) -> dict[str, Any]:
    if isinstance(item, Foreign):
        return items.foreign_json(item)
    return record_json(item, at)


def _row(item: Item, at: int) -> tuple[str, ...]:
    if isinstance(item, Foreign):
        return (item.key, f"{item.status or '-'} (foreign)", "-", "-", "-", "-")
    return (
        item.key,
        item.status.value + (" (stale)" if is_stale(item, at) else ""),
        human_duration(at - item.claimed_at_ms),
        _lease_left(item, at),
        str(item.attempts),
        str(item.fence),
    )


def _lease_left(record: LockItem, at: int) -> str:
    left = lease_left_ms(record, at)
    if left is None:
        return "-"
    return human_duration(left) if left > 0 else f"over {human_duration(left)} ago"


def run_show(args: argparse.Namespace) -> int:
    """Every attribute of one item, times human-readable and in epoch units."""
    store = store_for(args)
    items.check_table(store)
    key = storage_key(args.namespace, args.key) if args.namespace else args.key
    item = items.get(store, key)
    if item is None:
        raise Refused(f"no item with key {key!r} in table {store.table_name!r} (try `idemlock ls`)")
    at = now_ms()
    if isinstance(item, Foreign):
        _show_foreign(item, args.output)
        return 0
    record = item
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


def _show_foreign(item: Foreign, output: str) -> None:
    if output == "json":
        print_json(items.foreign_json(item))
        return
    rows = [
        ("key", item.key),
        ("status", f"{item.status or '-'} (foreign: not an idemlock record)"),
        ("why", item.problem),
        *(
            (f"  {name}", json.dumps(value, ensure_ascii=False))
            for name, value in items.plain(item.item).items()
        ),
    ]
    print_table(("ATTRIBUTE", "VALUE"), rows)


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
    """Counts per status, the stale count and the oldest in-progress claim; foreign items apart."""
    store = store_for(args)
    items.check_table(store)
    summary = _summary(
        store.table_name,
        items.scan(store, prefix=None, page_size=args.page_size, progress=args.progress),
        now_ms(),
    )
    if args.output == "json":
        print_json(summary)
        return 0
    oldest = summary["oldest_in_progress"]
    rows = [
        ("items", str(summary["total"])),
        *((f"  {status}", str(n)) for status, n in summary["by_status"].items()),
        ("  foreign (not idemlock's)", str(summary["foreign"])),
        ("stale (IN_PROGRESS, lease over)", str(summary["stale"])),
        (
            "oldest in progress",
            "-"
            if oldest is None
            else f"{oldest['key']} (claimed {human_duration(oldest['age_s'] * 1000)} ago)",
        ),
    ]
    print_table((f"TABLE {store.table_name}", ""), rows)
    return 0


def _summary(table: str, found: Iterable[Item], at: int) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    foreign = stale = 0
    oldest: LockItem | None = None
    for item in found:
        if isinstance(item, Foreign):
            foreign += 1
            continue
        counts[item.status.value] += 1
        if item.status is LockStatus.IN_PROGRESS:
            stale += is_stale(item, at)
            if oldest is None or item.claimed_at_ms < oldest.claimed_at_ms:
                oldest = item
    return {
        "table": table,
        "total": sum(counts.values()) + foreign,
        "by_status": {status.value: counts[status.value] for status in LockStatus},
        "foreign": foreign,
        "stale": stale,
        "oldest_in_progress": None
        if oldest is None
        else {"key": oldest.key, "age_s": round((at - oldest.claimed_at_ms) / 1000, 3)},
    }
