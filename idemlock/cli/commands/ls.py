"""``idemlock ls``: the lock items matching filters, newest claim first."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

from idemlock.cli import items
from idemlock.cli.common import EXIT_OK, now_ms
from idemlock.cli.flags import add_common_flags, add_scan_flags, count, store_for
from idemlock.cli.items import Foreign, Item, is_stale, item_json, lease_left_text
from idemlock.cli.output import human_duration, print_json, print_table
from idemlock.item import LockItem, LockStatus
from idemlock.keys import SEPARATOR

TABLE_LIMIT: Final = 100
"""Rows ``ls`` prints for people by default; scripts (``--output json``) get every item."""


def register(commands: Any) -> None:
    """Add ``ls``."""
    ls = commands.add_parser("ls", help="list lock items, newest claim first")
    add_common_flags(ls)
    ls.add_argument(
        "--status", type=str.upper, choices=[s.value for s in LockStatus], help="only this status"
    )
    ls.add_argument(
        "--stale", action="store_true", help="only IN_PROGRESS items past their lease (crashed)"
    )
    ls.add_argument(
        "--foreign",
        action="store_true",
        help="only items idemlock did not write, or whose result cannot be read",
    )
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
    ls.add_argument(
        "--unknown",
        action="store_true",
        help='only keys whose outcome is unknown (on_lease_expired="refuse" found their lease '
        "over): settle each with `idemlock release` or `idemlock resolve`",
    )
    ls.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
        print_json([item_json(item, at) for item in shown])
        return EXIT_OK
    print_table(
        ("KEY", "STATUS", "AGE", "LEASE LEFT", "ATTEMPTS", "FENCE"),
        (_row(item, at) for item in shown),
    )
    return EXIT_OK


def _matches(item: Item, args: argparse.Namespace, at: int) -> bool:
    if isinstance(item, Foreign):
        return not (args.status or args.stale or args.unknown)
    if args.foreign or (args.unknown and item.outcome_unknown_at_ms is None):
        return False
    if args.status and item.status.value != args.status:
        return False
    return not args.stale or is_stale(item, at)


def _newest_first(item: Item) -> tuple[int, int, str]:
    """Items by claim time, newest first; foreign items (no claim time) after them."""
    if isinstance(item, Foreign):
        return (1, 0, item.key)
    return (0, -item.claimed_at_ms, item.key)


def _row(item: Item, at: int) -> tuple[str, ...]:
    if isinstance(item, Foreign):
        return (item.key, f"{item.status or '-'} ({item.label})", "-", "-", "-", "-")
    return (
        item.key,
        item.status.value + _condition(item, at),
        human_duration(at - item.claimed_at_ms),
        lease_left_text(item, at),
        str(item.attempts),
        str(item.fence),
    )


def _condition(item: LockItem, at: int) -> str:
    """What the status alone does not say: a crashed claim, or one awaiting an operator."""
    if item.outcome_unknown_at_ms is not None:
        return " (outcome unknown)"
    if item.released_at_ms is not None:
        return " (failed; steps kept)"
    return " (stale)" if is_stale(item, at) else ""
