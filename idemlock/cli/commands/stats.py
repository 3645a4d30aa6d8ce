"""``idemlock stats``: counts per status, stale items, the oldest claim."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable
from typing import Any

from idemlock.cli import items
from idemlock.cli.common import EXIT_OK, now_ms
from idemlock.cli.flags import add_common_flags, add_scan_flags, store_for
from idemlock.cli.items import Foreign, Item, is_stale
from idemlock.cli.output import human_duration, print_json, print_table
from idemlock.item import LockItem, LockStatus


def register(commands: Any) -> None:
    """Add ``stats``."""
    stats = commands.add_parser("stats", help="counts per status, stale items, oldest claim")
    add_common_flags(stats)
    add_scan_flags(stats)
    stats.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
        return EXIT_OK
    oldest = summary["oldest_in_progress"]
    rows = [
        ("items", str(summary["total"])),
        *((f"  {status}", str(n)) for status, n in summary["by_status"].items()),
        ("  foreign (not idemlock's)", str(summary["foreign"])),
        ("  unreadable result", str(summary["unreadable"])),
        ("stale (IN_PROGRESS, lease over)", str(summary["stale"])),
        ("outcome unknown (ls --unknown)", str(summary["outcome_unknown"])),
        (
            "oldest in progress",
            "-"
            if oldest is None
            else f"{oldest['key']} (claimed {human_duration(oldest['age_s'] * 1000)} ago)",
        ),
    ]
    print_table((f"TABLE {store.table_name}", ""), rows)
    return EXIT_OK


def _summary(table: str, found: Iterable[Item], at: int) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    foreign = unreadable = stale = unknown = 0
    oldest: LockItem | None = None
    for item in found:
        if isinstance(item, Foreign):
            unreadable += item.unreadable
            foreign += not item.unreadable
            continue
        counts[item.status.value] += 1
        if item.status is LockStatus.IN_PROGRESS:
            stale += is_stale(item, at)
            unknown += item.outcome_unknown_at_ms is not None
            if oldest is None or item.claimed_at_ms < oldest.claimed_at_ms:
                oldest = item
    return {
        "table": table,
        "total": sum(counts.values()) + foreign + unreadable,
        "by_status": {status.value: counts[status.value] for status in LockStatus},
        "foreign": foreign,
        "unreadable": unreadable,
        "stale": stale,
        "outcome_unknown": unknown,
        "oldest_in_progress": None
        if oldest is None
        else {"key": oldest.key, "age_s": round((at - oldest.claimed_at_ms) / 1000, 3)},
    }
