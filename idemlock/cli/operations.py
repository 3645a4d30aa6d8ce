"""``idemlock release`` and ``purge``: let an event run again, clean a table without TTL."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from idemlock.cli.common import (
    Refused,
    add_connection_flags,
    human_duration,
    is_stale,
    lease_left_ms,
    now_ms,
    parse_duration,
    print_json,
    print_table,
    store_for,
    with_progress,
)
from idemlock.keys import storage_key
from idemlock.record import Record, Status


def register(commands: Any) -> None:
    """Add ``release`` and ``purge``."""
    release = commands.add_parser("release", help="free a key so its event can run again")
    add_connection_flags(release)
    release.add_argument("key", metavar="KEY", help="the stored key (namespace#key), or the key")
    release.add_argument("--namespace", help="KEY is a key of this namespace")
    release.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    release.add_argument(
        "--force",
        action="store_true",
        help="release even a live claim, or an item that changed since it was read",
    )
    release.set_defaults(run=run_release)

    purge = commands.add_parser(
        "purge", help="delete completed items past their retention (for tables without TTL)"
    )
    add_connection_flags(purge)
    purge.add_argument(
        "--older-than",
        type=parse_duration,
        metavar="DURATION",
        help="also delete completed items completed longer ago than this (e.g. 7d, 12h)",
    )
    purge.add_argument("--prefix", help="only keys starting with this")
    purge.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    purge.add_argument("--page-size", type=int, default=None, help="items per Scan request")
    purge.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None, help="scan progress"
    )
    purge.set_defaults(run=run_purge)


def run_release(args: argparse.Namespace) -> int:
    """Delete one item, conditioned on it not having changed since it was read."""
    store = store_for(args)
    key = storage_key(args.namespace, args.key) if args.namespace else args.key
    record = store.get(key)
    if record is None:
        raise Refused(f"no item with key {key!r} in table {store.table_name!r}: nothing to release")
    at = now_ms()
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
        current = store.get(key)
        now_status = "gone" if current is None else f"now {current.status.value}"
        raise Refused(
            f"{key!r} changed since it was read ({now_status}); not released. "
            "Look again with `idemlock show`, or pass --force"
        )
    if args.output == "json":
        print_json({"key": key, "released": True, "was": record.status.value})
    else:
        print(f"released {key!r} (was {record.status.value}): its next delivery runs the body")
    return 0


def _confirm(record: Record, at: int) -> bool:
    what = record.status.value + (" (stale)" if is_stale(record, at) else "")
    print(
        f"release {record.key!r} ({what}, claimed {human_duration(at - record.claimed_at_ms)} "
        "ago)? Its next delivery will run the body again. [y/N] ",
        end="",
        file=sys.stderr,
        flush=True,
    )
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def run_purge(args: argparse.Namespace) -> int:
    """Delete COMPLETED items whose retention is over (or completed before --older-than)."""
    store = store_for(args)
    at = now_ms()
    cutoff = None if args.older_than is None else at - int(args.older_than * 1000)
    due = [
        record
        for record in with_progress(
            store.scan(prefix=args.prefix, page_size=args.page_size), enabled=args.progress
        )
        if _purgeable(record, at, cutoff)
    ]
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
        print(f"{_completed_items(len(due))} would be deleted (dry run)")
    else:
        print(f"deleted {_completed_items(len(deleted))}" + _skipped(len(due) - len(deleted)))
    return 0


def _purgeable(record: Record, at: int, cutoff: int | None) -> bool:
    if record.status is not Status.COMPLETED:
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
