"""``idemlock show``: every attribute of one item."""

from __future__ import annotations

import argparse
import json
from typing import Any

from idemlock._results import unstored_reason
from idemlock.cli import items
from idemlock.cli.common import EXIT_OK, now_ms
from idemlock.cli.flags import add_common_flags, add_key_argument, store_for
from idemlock.cli.items import Foreign, is_stale, item_json, lease_left_text
from idemlock.cli.output import human_duration, iso, print_json, print_table
from idemlock.item import LockItem


def register(commands: Any) -> None:
    """Add ``show``."""
    show = commands.add_parser("show", help="every attribute of one item")
    add_common_flags(show)
    add_key_argument(show)
    show.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Every attribute of one item, times human-readable and in epoch units."""
    store = store_for(args)
    items.check_table(store)
    item = items.lookup(store, args.key, args.namespace, absent=" (try `idemlock ls`)")
    at = now_ms()
    if args.output == "json":
        print_json(item_json(item, at))
    elif isinstance(item, Foreign):
        print_table(("ATTRIBUTE", "VALUE"), _foreign_rows(item))
    else:
        print_table(("ATTRIBUTE", "VALUE"), _rows(item, at))
    return EXIT_OK


def _rows(item: LockItem, at: int) -> list[tuple[str, str]]:
    rows = [
        ("key", item.key),
        ("status", item.status.value + (" (stale: lease over)" if is_stale(item, at) else "")),
        ("owner", item.owner),
        ("fence", str(item.fence)),
        ("attempts", str(item.attempts)),
        ("claimed at", _when(item.claimed_at_ms, at)),
    ]
    if item.lease_expires_at_ms is not None and item.released_at_ms is None:
        rows.append(("lease expires", _when(item.lease_expires_at_ms, at)))
        rows.append(("lease left", lease_left_text(item, at)))
    if item.completed_at_ms is not None:
        rows.append(("completed at", _when(item.completed_at_ms, at)))
    if item.expires_at_s is not None:
        rows.append(("expires (TTL)", _when(item.expires_at_s * 1000, at, unit="s")))
    else:
        rows.append(("expires (TTL)", "never (retention: forever)"))
    if item.outcome_unknown_at_ms is not None:
        rows.append(
            (
                "outcome unknown",
                f"since {_when(item.outcome_unknown_at_ms, at)}: settle with `idemlock release` "
                "(run again) or `idemlock resolve --completed` (treat as done)",
            )
        )
    if item.released_at_ms is not None:
        rows.append(
            ("failed at", f"{_when(item.released_at_ms, at)}: free; its retry replays the steps")
        )
    rows.extend((f"step {name}", _result(text)) for name, text in item.steps)
    rows.append(("fingerprint", item.fingerprint or "-"))
    rows.append(("result", _result(item.result)))
    return rows


def _foreign_rows(item: Foreign) -> list[tuple[str, str]]:
    what = "its result cannot be read" if item.unreadable else "foreign: not an idemlock record"
    return [
        ("key", item.key),
        ("status", f"{item.status or '-'} ({what})"),
        ("why", item.problem),
        *(
            (f"  {name}", json.dumps(value, ensure_ascii=False))
            for name, value in items.plain(item.item).items()
        ),
    ]


def _when(epoch_ms: int, at: int, *, unit: str = "ms") -> str:
    epoch = epoch_ms if unit == "ms" else epoch_ms // 1000
    relative = human_duration(at - epoch_ms)
    direction = f"{relative} ago" if epoch_ms <= at else f"in {relative}"
    return f"{iso(epoch_ms)} ({direction}; epoch {unit} {epoch})"


def _result(result: str | None) -> str:
    if result is None:
        return "(not stored)"
    reason = unstored_reason(result)
    if reason is not None:
        return f"(not stored: {reason})"
    return json.dumps(json.loads(result), ensure_ascii=False)
