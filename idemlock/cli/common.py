"""What every ``idemlock`` subcommand shares: connection flags, output, durations, records."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, TextIO, TypeVar
from urllib.parse import urlsplit

from idemlock.dynamodb import TABLE_ENV, AttributeNames, DynamoDBStore
from idemlock.errors import ConfigurationError
from idemlock.item import LockItem, LockStatus, utc_text

T = TypeVar("T")

DEFAULT_TABLE: Final = "idemlock"
"""The table name templates use when neither --table nor IDEMLOCK_TABLE is given."""


class UsageError(Exception):
    """The command line is wrong in a way argparse cannot see; exit code 2."""


class Refused(Exception):
    """Not found, not confirmed, or refused for safety; exit code 1 with this message."""


ENDPOINT_ENVS: Final = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")
"""Where botocore finds an endpoint when --endpoint-url is not given, most specific first."""

_FIELDS: Final = AttributeNames.__match_args__


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """What every command on a table takes: which table, where, who asks, and the output."""
    add_table_flags(parser)
    add_connection_flags(parser)
    add_output_flag(parser)


def add_table_flags(parser: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """--table and --attribute: which table, and the attribute names its items use."""
    fallback = f", else {default}" if default else ""
    parser.add_argument(
        "--table", help=f"lock table name (default: ${TABLE_ENV}{fallback})", default=None
    )
    parser.add_argument(
        "--attribute",
        metavar="FIELD=NAME",
        type=attribute_pair,
        action="append",
        default=[],
        help="an attribute name the table's DynamoDBStore was given, e.g. key=pk or "
        f"expires_at_s=ttl (repeatable; fields: {', '.join(_FIELDS)})",
    )
    parser.add_argument(
        "--sort-key-value",
        metavar="VALUE",
        help="with --attribute sort_key=NAME: the sort key value of idemlock's items, if its "
        "DynamoDBStore was given sort_key_value= (default: idemlock)",
    )


def add_connection_flags(parser: argparse.ArgumentParser, *, note: str = "") -> None:
    """--endpoint-url, --region and --profile: where the table is and who asks."""
    parser.add_argument(
        "--endpoint-url",
        type=endpoint_url,
        help="DynamoDB endpoint, e.g. http://127.0.0.1:8000 for DynamoDB Local "
        f"(default: ${ENDPOINT_ENVS[0]}){note}",
    )
    parser.add_argument("--region", help=f"AWS region (default: the AWS configuration){note}")
    parser.add_argument("--profile", help=f"AWS profile (default: the AWS configuration){note}")


def add_output_flag(parser: argparse.ArgumentParser) -> None:
    """--output table|json."""
    parser.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="table for people, json (stable fields) for scripts",
    )


def add_scan_flags(parser: argparse.ArgumentParser) -> None:
    """--page-size and --progress, for the commands that scan the table."""
    parser.add_argument(
        "--page-size", type=count(1), default=None, help="items per Scan request (>= 1)"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="count scanned items on stderr (default: when stderr is a terminal)",
    )


def count(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
        return value

    return parse


def item_key(text: str) -> str:
    """An argparse type: a key, never empty (DynamoDB refuses an empty key)."""
    if not text:
        raise argparse.ArgumentTypeError(
            "KEY is empty: pass the stored key (namespace#key), or the key with --namespace"
        )
    return text


def endpoint_url(text: str) -> str:
    """An argparse type: an http(s) URL with a host; the message shows the fix."""
    stripped = text.strip()
    if not stripped:
        raise argparse.ArgumentTypeError(
            "empty: leave --endpoint-url out to use AWS, or pass a URL such as "
            "http://127.0.0.1:8000"
        )
    try:
        parts = urlsplit(stripped)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        example = stripped if "://" in stripped else f"http://{stripped}"
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL with a host: write it as {example}"
        )
    return stripped


def attribute_pair(text: str) -> tuple[str, str]:
    """An argparse type: ``FIELD=NAME`` for one of :class:`AttributeNames`' fields."""
    field_name, equals, name = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD=NAME, e.g. key=pk")
    if field_name not in _FIELDS:
        raise argparse.ArgumentTypeError(
            f"no attribute field {field_name!r}; the fields are {', '.join(_FIELDS)}"
        )
    return field_name, name


def attribute_names(args: argparse.Namespace) -> AttributeNames:
    """The attribute names --attribute gives (idemlock's defaults for the others)."""
    try:
        return AttributeNames(**dict(getattr(args, "attribute", [])))
    except ConfigurationError as exc:
        raise UsageError(f"--attribute: {exc}") from exc


def table_name(
    args: argparse.Namespace, explicit: str | None = None, *, default: str | None = None
) -> str:
    """The table from the command line, else IDEMLOCK_TABLE, else ``default``.

    A usage error without any of them.
    """
    name = (
        explicit or getattr(args, "table", None) or os.environ.get(TABLE_ENV, "").strip() or default
    )
    if not name:
        raise UsageError(f"no table: pass --table NAME or set {TABLE_ENV}")
    return str(name)


def endpoint_for(args: argparse.Namespace) -> str | None:
    """--endpoint-url, else the environment's endpoint, checked as the flag is."""
    if args.endpoint_url:
        return str(args.endpoint_url)
    for variable in ENDPOINT_ENVS:
        value = os.environ.get(variable)
        if value:
            try:
                return endpoint_url(value)
            except argparse.ArgumentTypeError as exc:
                raise UsageError(f"{variable}: {exc}") from exc
    return None


def store_for(args: argparse.Namespace, explicit_table: str | None = None) -> DynamoDBStore:
    """The store the flags describe; the client is made on its first call."""
    return DynamoDBStore(
        table_name(args, explicit_table),
        endpoint_url=endpoint_for(args),
        region_name=args.region,
        profile_name=args.profile,
        attributes=attribute_names(args),
        sort_key_value=getattr(args, "sort_key_value", None),
    )


def confirm(question: str) -> bool:
    """Ask on stderr; only ``y`` or ``yes`` on stdin agrees (no stdin at all refuses)."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline() if sys.stdin is not None else ""
    if not answer.endswith("\n"):
        print(file=sys.stderr)  # nobody pressed Enter: end the prompt's line
    return answer.strip().lower() in ("y", "yes")


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``12h``, ``7d`` or ``2w`` as seconds (argparse type).

    A bare number is refused: ``--older-than 7`` meant seven seconds once, and deleted every
    completed lock of a table whose owner meant seven days.
    """
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a number with s, m, h, d or w (e.g. 7d)"
        )
    if not match.group(2):
        raise argparse.ArgumentTypeError(
            f"{text!r} has no unit: say {match.group(1)}d for days (or s, m, h, w)"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


_STEPS: Final = ((1000, "s"), (60, "m"), (60, "h"), (24, "d"))
"""Each unit's size in the previous one: ms → s → m → h → d."""


def human_duration(milliseconds: float) -> str:
    """A short rendering of a duration: ``850ms``, ``42s``, ``3m12s``, ``5h03m``, ``12d04h``."""
    amount, unit = abs(int(milliseconds)), "ms"
    remainder: tuple[int, str] | None = None
    for size, bigger in _STEPS:
        if amount < size:
            break
        amount, rest = divmod(amount, size)
        remainder = None if unit == "ms" else (rest, unit)
        unit = bigger
    if remainder is None:
        return f"{amount}{unit}"
    return f"{amount}{unit}{remainder[0]:02d}{remainder[1]}"


def iso(epoch_ms: int | None) -> str | None:
    """Epoch milliseconds as an ISO 8601 UTC time (``None`` stays ``None``)."""
    return None if epoch_ms is None else utc_text(epoch_ms)


def is_stale(record: LockItem, at_ms: int) -> bool:
    """IN_PROGRESS past its lease: the invocation crashed or timed out."""
    return record.status is LockStatus.IN_PROGRESS and record.is_free_at(at_ms)


def lease_left_ms(record: LockItem, at_ms: int) -> int | None:
    """Milliseconds until the lease ends (negative once over); ``None`` once completed."""
    if record.status is not LockStatus.IN_PROGRESS or record.lease_expires_at_ms is None:
        return None
    return record.lease_expires_at_ms - at_ms


def record_json(record: LockItem, at_ms: int) -> dict[str, Any]:
    """A record as stable JSON fields for scripts; times in epoch units and ISO 8601."""
    expires_ms = None if record.expires_at_s is None else record.expires_at_s * 1000
    return {
        "key": record.key,
        "status": record.status.value,
        "owner": record.owner,
        "fence": record.fence,
        "attempts": record.attempts,
        "claimed_at": iso(record.claimed_at_ms),
        "claimed_at_ms": record.claimed_at_ms,
        "age_s": round((at_ms - record.claimed_at_ms) / 1000, 3),
        "lease_expires_at": iso(record.lease_expires_at_ms),
        "lease_expires_at_ms": record.lease_expires_at_ms,
        "lease_left_s": _seconds(lease_left_ms(record, at_ms)),
        "stale": is_stale(record, at_ms),
        "completed_at": iso(record.completed_at_ms),
        "completed_at_ms": record.completed_at_ms,
        "expires_at": iso(expires_ms),
        "expires_at_s": record.expires_at_s,
        "result": None if record.result is None else json.loads(record.result),
        "result_stored": record.result is not None,
        "fingerprint": record.fingerprint,
        "foreign": False,
    }


def _seconds(milliseconds: int | None) -> float | None:
    return None if milliseconds is None else round(milliseconds / 1000, 3)


def print_json(value: object, out: TextIO | None = None) -> None:
    """JSON on stdout, sorted keys and one document per command, for scripts."""
    print(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False), file=out or sys.stdout)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Left-aligned columns, two spaces apart."""
    materialised = [list(headers), *[list(row) for row in rows]]
    widths = [max(len(row[i]) for row in materialised) for i in range(len(headers))]
    for row in materialised:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def with_progress(records: Iterator[T], *, enabled: bool | None) -> Iterator[T]:
    """Count scanned items on stderr as they arrive (by default only on a terminal)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    scanned = 0
    for scanned, record in enumerate(records, start=1):
        if show and scanned % 500 == 0:
            print(f"\rscanned {scanned} items…", end="", file=sys.stderr, flush=True)
        yield record
    if show:
        print(f"\rscanned {scanned} items", file=sys.stderr, flush=True)
