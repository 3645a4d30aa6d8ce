"""``idemlock purge``: delete completed items past their retention, for tables without TTL.

Three steps: select what is due (one scan), confirm (unless --yes or --dry-run), delete (each
item conditioned on it not having changed since it was read). Progress shows in the scan and in
the deletes; Ctrl-C during the deletes stops between two of them and says what was done.
"""

from __future__ import annotations

import argparse
from typing import Any, Final, NamedTuple

from idemlock.cli import items
from idemlock.cli.common import (
    EXIT_OK,
    Interrupted,
    Refused,
    confirm,
    interrupt_between_steps,
    now_ms,
)
from idemlock.cli.flags import add_common_flags, add_scan_flags, parse_duration, store_for
from idemlock.cli.items import Foreign
from idemlock.cli.output import Progress, human_duration, print_json, print_table
from idemlock.dynamodb import DynamoDBStore
from idemlock.item import LockItem, LockStatus


def register(commands: Any) -> None:
    """Add ``purge``."""
    purge = commands.add_parser(
        "purge", help="delete completed items past their retention (for tables without TTL)"
    )
    add_common_flags(purge)
    purge.add_argument(
        "--older-than",
        type=parse_duration,
        metavar="DURATION",
        help="also delete completed items completed longer ago than this (e.g. 7d, 12h)",
    )
    purge.add_argument("--prefix", help="only keys starting with this")
    purge.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    purge.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    add_scan_flags(purge)
    purge.set_defaults(run=run)


PROGRESS_EVERY: Final = 10
"""Deletes between two updates of the progress line."""


class Selection(NamedTuple):
    """What one scan found: the items due for deletion, and the foreign items it passed."""

    due: list[LockItem]
    foreign: list[Foreign]
    at: int
    cutoff: int | None


def run(args: argparse.Namespace) -> int:
    """Delete COMPLETED items whose retention is over (or completed before --older-than).

    Items idemlock did not write are never purged: nothing here knows what they mean.
    """
    store = store_for(args)
    items.check_table(store)
    try:
        selection = _select(store, args)
    except KeyboardInterrupt:
        raise Interrupted("interrupted while scanning: nothing deleted") from None
    if not selection.due and args.output == "table":
        print(
            "nothing to purge: no completed item is past its retention"
            + ("" if selection.cutoff is None else " or completed before the --older-than cutoff")
            + _foreign(selection.foreign)
        )
        return EXIT_OK
    if selection.due and not (args.dry_run or args.yes):
        _confirm(store, selection)
    deleted = [] if args.dry_run else _delete(store, selection.due, Progress(args.progress))
    _report(args, selection, deleted)
    return EXIT_OK


def _select(store: DynamoDBStore, args: argparse.Namespace) -> Selection:
    """Scan once: the completed items past their retention or the --older-than cutoff."""
    at = now_ms()
    cutoff = None if args.older_than is None else at - int(args.older_than * 1000)
    due: list[LockItem] = []
    foreign: list[Foreign] = []
    for item in items.scan(
        store, prefix=args.prefix, page_size=args.page_size, progress=args.progress
    ):
        if isinstance(item, Foreign):
            foreign.append(item)
        elif _purgeable(item, at, cutoff):
            due.append(item)
    return Selection(due, foreign, at, cutoff)


def _confirm(store: DynamoDBStore, selection: Selection) -> None:
    """Say how many items go, and how old they are, then ask; refused unless agreed."""
    due, at = selection.due, selection.at
    ages = sorted({human_duration(at - (item.completed_at_ms or at)) for item in due})
    span = ages[0] if len(ages) == 1 else f"between {ages[0]} and {ages[-1]}"
    if not confirm(
        f"delete {_completed_items(len(due))} from table {store.table_name!r}, completed {span} "
        "ago? Their next deliveries will run the body again."
    ):
        raise Refused(f"not purged: nothing deleted (due: {_completed_items(len(due))})")


def _delete(store: DynamoDBStore, due: list[LockItem], progress: Progress) -> list[LockItem]:
    """Delete each item unless it changed since it was read; the ones deleted.

    Ctrl-C stops between two deletes, and says how many were deleted and how many remain.
    """
    deleted: list[LockItem] = []
    with interrupt_between_steps() as interrupted:
        for done, item in enumerate(due):
            if interrupted():
                progress.end(_deleting(len(deleted), due))
                raise Interrupted(
                    f"interrupted: deleted {_completed_items(len(deleted))} of {len(due)}"
                    f"{_skipped(done - len(deleted))}; {len(due) - done} remain, for the next "
                    "purge"
                )
            if store.delete(item.key, expected=item):
                deleted.append(item)
            if done % PROGRESS_EVERY == 0:
                progress.show(_deleting(len(deleted), due))
    progress.end(_deleting(len(deleted), due))
    return deleted


def _deleting(count: int, due: list[LockItem]) -> str:
    return f"deleted {count} of {len(due)} items"


def _report(args: argparse.Namespace, selection: Selection, deleted: list[LockItem]) -> None:
    due, at = selection.due, selection.at
    if args.output == "json":
        print_json(
            {
                "dry_run": args.dry_run,
                "due": [item.key for item in due],
                "deleted": [item.key for item in deleted],
            }
        )
    elif args.dry_run:
        print_table(
            ("WOULD DELETE", "COMPLETED"),
            ((r.key, f"{human_duration(at - (r.completed_at_ms or at))} ago") for r in due),
        )
        print(
            f"{_completed_items(len(due))} would be deleted (dry run)" + _foreign(selection.foreign)
        )
    else:
        print(
            f"deleted {_completed_items(len(deleted))}"
            + _skipped(len(due) - len(deleted))
            + _foreign(selection.foreign)
        )


def _purgeable(item: LockItem, at: int, cutoff: int | None) -> bool:
    if item.status is not LockStatus.COMPLETED:
        return False
    if item.is_free_at(at):  # retention over
        return True
    return cutoff is not None and item.completed_at_ms is not None and item.completed_at_ms < cutoff


def _completed_items(count: int) -> str:
    return f"{count} completed item{'' if count == 1 else 's'}"


def _skipped(count: int) -> str:
    return f"; {count} changed while purging and were left alone" if count else ""


def _foreign(passed: list[Foreign]) -> str:
    """The items passed, by kind: never purged, whatever their age."""
    unreadable = sum(item.unreadable for item in passed)
    kinds = (
        (len(passed) - unreadable, "foreign item", "foreign items"),
        (unreadable, "item with an unreadable result", "items with an unreadable result"),
    )
    return "".join(
        f"; {count} {one if count == 1 else many} left alone" for count, one, many in kinds if count
    )
