"""``idemlock resolve``: settle a key whose outcome is unknown by declaring it done.

A claim under ``on_lease_expired="refuse"`` that found its holder's lease over marks the item
(``outcome_unknown_at_ms``) instead of running the body again. An operator who has checked
that the work was done (the card was charged, the withdrawal paid out) completes the key here,
optionally with the result its duplicates should get; ``idemlock release`` runs it again
instead.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from idemlock._options import DEFAULT_RETENTION
from idemlock._policy import ceil_s
from idemlock.cli import items
from idemlock.cli.common import EXIT_OK, Refused, UsageError, confirm, now_ms
from idemlock.cli.flags import add_common_flags, add_key_argument, parse_duration, store_for
from idemlock.cli.items import Foreign, lease_left_ms
from idemlock.cli.output import human_duration, print_json
from idemlock.item import LockItem, LockStatus
from idemlock.lock import new_owner_token

OPERATOR_PREFIX = "resolved-"
"""How the owner token of a key ``resolve`` completed begins: ``show`` says who completed it."""


def register(commands: Any) -> None:
    """Add ``resolve``."""
    resolve = commands.add_parser(
        "resolve", help="settle a key whose outcome is unknown: treat it as completed"
    )
    add_common_flags(resolve)
    add_key_argument(resolve)
    resolve.add_argument(
        "--completed",
        action="store_true",
        required=True,
        help="the work was done: complete the key, so its duplicates replay instead of running",
    )
    resolve.add_argument(
        "--result",
        metavar="JSON",
        help="the result its duplicates get (JSON; default: none stored, they get null)",
    )
    resolve.add_argument(
        "--retention",
        type=parse_duration,
        default=DEFAULT_RETENTION.total_seconds(),
        help="how long the completed key answers duplicates, e.g. 24h or 7d (default 24h)",
    )
    resolve.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    resolve.add_argument(
        "--force", action="store_true", help="complete even a claim whose lease is still live"
    )
    resolve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Complete one IN_PROGRESS item in an operator's name, with the result given."""
    result = _result_text(args.result)
    store = store_for(args)
    items.check_table(store)
    found = items.lookup(store, args.key, args.namespace, absent=": nothing to resolve")
    at = now_ms()
    item = _resolvable(found, at, force=args.force)
    if not args.yes and not _confirm(item, at, result):
        raise Refused("not resolved")
    expires_at_s = ceil_s(at + round(args.retention * 1000))
    # In an operator's name, not the claim's: if its owner is alive after all, its late
    # complete or release finds the key is not its own, and the operator's word stands.
    operator = f"{OPERATOR_PREFIX}{new_owner_token()}"
    if not store.resolve(
        item.key,
        item.owner,
        operator=operator,
        now_ms=at,
        result=result,
        expires_at_s=expires_at_s,
    ):
        raise Refused(
            f"{item.key!r} changed since it was read (released or claimed again); not "
            "resolved. Look again with `idemlock show`"
        )
    if args.output == "json":
        print_json({"key": item.key, "resolved": "completed", "result": args.result is not None})
    else:
        print(f"resolved {item.key!r} as completed: its duplicates now replay instead of running")
    return EXIT_OK


def _result_text(text: str | None) -> str | None:
    """``--result`` as the stored JSON text (compact), or ``None``; a usage error if not JSON."""
    if text is None:
        return None
    try:
        value = json.loads(text)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise UsageError(
            f"--result is not JSON ({exc}): e.g. --result '{{\"paid\": true}}'"
        ) from exc


def _resolvable(item: LockItem | Foreign, at: int, *, force: bool) -> LockItem:
    """The item to complete; refused if foreign, completed, or a live claim (unless forced)."""
    if isinstance(item, Foreign):
        raise Refused(f"{item.problem}; idemlock resolves only its own items")
    if item.status is LockStatus.COMPLETED:
        raise Refused(f"{item.key!r} is COMPLETED already: nothing to resolve")
    left = lease_left_ms(item, at)
    if item.outcome_unknown_at_ms is None and left is not None and left > 0 and not force:
        raise Refused(
            f"{item.key!r} is held by a live invocation (lease ends in {human_duration(left)}); "
            "it may still complete by itself: wait for it, or pass --force"
        )
    return item


def _confirm(item: LockItem, at: int, result: str | None) -> bool:
    stored = "no result" if result is None else f"result {result}"
    return confirm(
        f"resolve {item.key!r} (claimed {human_duration(at - item.claimed_at_ms)} ago, fence "
        f"{item.fence}) as COMPLETED with {stored}? Its duplicates will not run the body."
    )
