"""``idemlock release`` and ``purge``: let an event run again, clean a table without TTL."""

from __future__ import annotations

import argparse
from typing import Any

from idemlock.cli import items
from idemlock.cli.common import (
    Refused,
    add_common_flags,
    add_scan_flags,
    confirm,
    human_duration,
    is_stale,
    item_key,
    lease_left_ms,
    now_ms,
    parse_duration,
    print_json,
    print_table,
    store_for,
)
from idemlock.cli.items import Foreign, Item
from idemlock.dynamodb import DynamoDBStore
from idemlock.item import LockItem, LockStatus
from idemlock.keys import storage_key


def register(commands: Any) -> None:
    """Add ``release`` and ``purge``."""
    release = commands.add_parser("release", help="free a key so its event can run again")
    add_common_flags(release)
    release.add_argument(
        "key", metavar="KEY", type=item_key, help="the stored key (namespace#key), or the key"
    )
    release.add_argument("--namespace", help="KEY is a key of this namespace")
    release.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    release.add_argument(
        "--force",
        action="store_true",
        help="release even a live claim, an item that changed since it was read, or an item "
        "idemlock did not write",
    )
    release.set_defaults(run=run_release)

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
    purge.set_defaults(run=run_purge)


def run_release(args: argparse.Namespace) -> int:
    """Delete one item, conditioned on it not having changed since it was read."""
    store = store_for(args)
    items.check_table(store)
    key = storage_key(args.namespace, args.key) if args.namespace else args.key
    item = items.get(store, key)
    if item is None:
        raise Refused(f"no item with key {key!r} in table {store.table_name!r}: nothing to release")
    if isinstance(item, Foreign):
        return _release_foreign(store, item, args)
    record, at = item, now_ms()
    left = lease_left_ms(record, at)
    if left is not None and left > 0 and not args.force:
        raise Refused(
            f"{key!r} is held by a live invocation (lease ends in {human_duration(left)}); "
            "wait for it, or pass --force to release it anyway (the owner's complete will then "
            "fail with LockLostError)"
        )
    if not args.yes and not _confirm(record, at):
        raise Refused("not released")
    released = store.delete(key, expected=None if args.force else record)
    if not released:
        current = items.get(store, key)
        now_status = "gone" if current is None else f"now {_status(current)}"
        raise Refused(
            f"{key!r} changed since it was read ({now_status}); not released. "
            "Look again with `idemlock show`, or pass --force"
        )
    _released(key, record.status.value, args.output)
    return 0


def _release_foreign(store: DynamoDBStore, item: Foreign, args: argparse.Namespace) -> int:
    """An item idemlock did not write: deleted only when asked to with --force."""
    if not args.force:
        raise Refused(
            f"{item.problem}; whatever wrote it may still need it: pass --force to delete it anyway"
        )
    if not args.yes and not confirm(
        f"delete {item.key!r} (status {item.status or '-'}, not written by idemlock)?"
    ):
        raise Refused("not released")
    if not store.delete(item.key):
        raise Refused(f"{item.key!r} is gone already; nothing released")
    _released(item.key, item.status, args.output)
    return 0


def _released(key: str, was: str | None, output: str) -> None:
    if output == "json":
        print_json({"key": key, "released": True, "was": was})
    else:
        print(f"released {key!r} (was {was or '-'}): its next delivery runs the body")


def _status(item: Item) -> str:
    return f"{item.status or '-'} (foreign)" if isinstance(item, Foreign) else item.status.value


def _confirm(record: LockItem, at: int) -> bool:
    what = record.status.value + (" (stale)" if is_stale(record, at) else "")
    return confirm(
        f"release {record.key!r} ({what}, claimed {human_duration(at - record.claimed_at_ms)} "
        "ago)? Its next delivery will run the body again."
    )


def run_purge(args: argparse.Namespace) -> int:
    """Delete COMPLETED items whose retention is over (or completed before --older-than).

    Items idemlock did not write are never purged: nothing here knows what they mean.
    """
    store = store_for(args)
    items.check_table(store)
    at = now_ms()
    cutoff = None if args.older_than is None else at - int(args.older_than * 1000)
    due: list[LockItem] = []
    foreign = 0
    for item in items.scan(
        store, prefix=args.prefix, page_size=args.page_size, progress=args.progress
    ):
        if isinstance(item, Foreign):
            foreign += 1
        elif _purgeable(item, at, cutoff):
            due.append(item)
    if not due and args.output == "table":
        print(
            "nothing to purge: no completed item is past its retention"
            + ("" if cutoff is None else " or completed before the --older-than cutoff")
            + _foreign(foreign)
        )
        return 0
    if due and not (args.dry_run or args.yes) and not _confirm_purge(store, due, at):
        raise Refused(f"not purged: nothing deleted (due: {_completed_items(len(due))})")
    deleted = [] if args.dry_run else [r for r in due if store.delete(r.key, expected=r)]
    if args.output == "json":
        print_json(
            {
                "dry_run": args.dry_run,
                "due": [record.key for record in due],
                "deleted": [record.key for record in deleted],
            }
        )
        return 0
    if args.dry_run:
        print_table(
            ("WOULD DELETE", "COMPLETED"),
            ((r.key, f"{human_duration(at - (r.completed_at_ms or at))} ago") for r in due),
        )
        print(f"{_completed_items(len(due))} would be deleted (dry run){_foreign(foreign)}")
    else:
        print(
            f"deleted {_completed_items(len(deleted))}"
            + _skipped(len(due) - len(deleted))
            + _foreign(foreign)
        )
    return 0


def _confirm_purge(store: DynamoDBStore, due: list[LockItem], at: int) -> bool:
    """Say how many items go, and how old they are, before asking."""
    ages = sorted({human_duration(at - (record.completed_at_ms or at)) for record in due})
    span = ages[0] if len(ages) == 1 else f"between {ages[0]} and {ages[-1]}"
    return confirm(
        f"delete {_completed_items(len(due))} from table {store.table_name!r}, completed {span} "
        "ago? Their next deliveries will run the body again."
    )


def _purgeable(record: LockItem, at: int, cutoff: int | None) -> bool:
    if record.status is not LockStatus.COMPLETED:
        return False
    if record.is_free_at(at):  # retention over
        return True
    return (
        cutoff is not None
        and record.completed_at_ms is not None
        and record.completed_at_ms < cutoff
    )


def _completed_items(count: int) -> str:
    return f"{count} completed item{'' if count == 1 else 's'}"


def _skipped(count: int) -> str:
    return f"; {count} changed while purging and were left alone" if count else ""


def _foreign(count: int) -> str:
    return f"; {count} foreign item{'' if count == 1 else 's'} left alone" if count else ""
