"""``idemlock release``: free one key so its event can run again."""

from __future__ import annotations

import argparse
from typing import Any

from idemlock.cli import items
from idemlock.cli.common import EXIT_OK, Refused, confirm, now_ms
from idemlock.cli.flags import add_common_flags, add_key_argument, store_for
from idemlock.cli.items import Foreign, Item, is_stale, lease_left_ms
from idemlock.cli.output import human_duration, print_json
from idemlock.dynamodb import DynamoDBStore
from idemlock.item import LockItem


def register(commands: Any) -> None:
    """Add ``release``."""
    release = commands.add_parser("release", help="free a key so its event can run again")
    add_common_flags(release)
    add_key_argument(release)
    release.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    release.add_argument(
        "--force",
        action="store_true",
        help="release even a live claim, an item that changed since it was read, or an item "
        "idemlock did not write",
    )
    release.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Delete one item, conditioned on it not having changed since it was read."""
    store = store_for(args)
    items.check_table(store)
    item = items.lookup(store, args.key, args.namespace, absent=": nothing to release")
    if isinstance(item, Foreign):
        return _release_foreign(store, item, args)
    key, at = item.key, now_ms()
    left = lease_left_ms(item, at)
    if left is not None and left > 0 and not args.force:
        raise Refused(
            f"{key!r} is held by a live invocation (lease ends in {human_duration(left)}); "
            "wait for it, or pass --force to release it anyway (the owner's complete will then "
            "fail with LockLostError)"
        )
    if not args.yes and not _confirm(item, at):
        raise Refused("not released")
    released = store.delete(key, expected=None if args.force else item)
    if not released:
        current = items.get(store, key)
        now_status = "gone" if current is None else f"now {_status(current)}"
        raise Refused(
            f"{key!r} changed since it was read ({now_status}); not released. "
            "Look again with `idemlock show`, or pass --force"
        )
    _released(key, item.status.value, args.output)
    return EXIT_OK


def _release_foreign(store: DynamoDBStore, item: Foreign, args: argparse.Namespace) -> int:
    """A foreign item, or one whose result cannot be read: deleted only with --force."""
    if not args.force:
        raise Refused(
            f"{item.problem}; whatever wrote it may still need it: pass --force to delete it anyway"
        )
    what = "its result cannot be read" if item.unreadable else "not written by idemlock"
    if not args.yes and not confirm(f"delete {item.key!r} (status {item.status or '-'}, {what})?"):
        raise Refused("not released")
    if not store.delete(item.key):
        raise Refused(f"{item.key!r} is gone already; nothing released")
    _released(item.key, item.status, args.output)
    return EXIT_OK


def _released(key: str, was: str | None, output: str) -> None:
    if output == "json":
        print_json({"key": key, "released": True, "was": was})
    else:
        print(f"released {key!r} (was {was or '-'}): its next delivery runs the body")


def _status(item: Item) -> str:
    return (
        f"{item.status or '-'} ({item.label})" if isinstance(item, Foreign) else item.status.value
    )


def _confirm(item: LockItem, at: int) -> bool:
    what = item.status.value + (" (stale)" if is_stale(item, at) else "")
    left = lease_left_ms(item, at)
    live = (
        f" It is LIVE: an invocation holds it for {human_duration(left)} more, and its "
        "complete will fail with LockLostError."
        if left is not None and left > 0
        else ""
    )
    return confirm(
        f"release {item.key!r} ({what}, claimed {human_duration(at - item.claimed_at_ms)} "
        f"ago)?{live} Its next delivery will run the body again."
    )
