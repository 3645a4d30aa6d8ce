"""What every ``idemlock`` subcommand shares: connection flags, output, durations, records."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, Final, TextIO

from idemlock._options import TABLE_ENV
from idemlock.dynamodb import DynamoDBStore
from idemlock.record import Record, Status

DEFAULT_TABLE: Final = "idemlock"
"""The table name templates use when neither --table nor IDEMLOCK_TABLE is given."""


class UsageError(Exception):
    """The command line is wrong in a way argparse cannot see; exit code 2."""


class Refused(Exception):
    """Not found, not confirmed, or refused for safety; exit code 1 with this message."""


def add_connection_flags(parser: argparse.ArgumentParser, *, table: bool = True) -> None:
    """--table, --endpoint-url, --region, --profile and --output, on every subcommand."""
    if table:
        parser.add_argument(
            "--table", help=f"lock table name (default: ${TABLE_ENV})", default=None
        )
    parser.add_argument(
        "--endpoint-url",
        help="DynamoDB endpoint, e.g. DynamoDB Local (default: $AWS_ENDPOINT_URL_DYNAMODB)",
    )
    parser.add_argument("--region", help="AWS region (default: the AWS configuration)")
    parser.add_argument("--profile", help="AWS profile (default: the AWS configuration)")
    parser.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="table for people, json (stable fields) for scripts",
    )


def table_name(args: argparse.Namespace, explicit: str | None = None) -> str:
    """The table from the command line, else IDEMLOCK_TABLE; a usage error without either."""
    name = explicit or getattr(args, "table", None) or os.environ.get(TABLE_ENV, "").strip()
    if not name:
        raise UsageError(f"no table: pass --table NAME or set {TABLE_ENV}")
    return str(name)


def store_for(args: argparse.Namespace, explicit_table: str | None = None) -> DynamoDBStore:
    """The store the flags describe; the client is made on its first call."""
    return DynamoDBStore(
        table_name(args, explicit_table),
        endpoint_url=args.endpoint_url,
        region_name=args.region,
        profile_name=args.profile,
    )


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``12h``, ``7d`` or ``2w`` as seconds (argparse type)."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a number with s, m, h, d or w (e.g. 7d)"
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
    """Epoch milliseconds as an ISO 8601 UTC time."""
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_stale(record: Record, at_ms: int) -> bool:
    """IN_PROGRESS past its lease: the invocation crashed or timed out."""
    return record.status is Status.IN_PROGRESS and record.is_free_at(at_ms)


def lease_left_ms(record: Record, at_ms: int) -> int | None:
    """Milliseconds until the lease ends (negative once over); ``None`` once completed."""
    if record.status is not Status.IN_PROGRESS or record.lease_expires_at_ms is None:
        return None
    return record.lease_expires_at_ms - at_ms


def record_json(record: Record, at_ms: int) -> dict[str, Any]:
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


def with_progress(records: Iterator[Record], *, enabled: bool | None) -> Iterator[Record]:
    """Count scanned records on stderr as they arrive (by default only on a terminal)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    count = 0
    for count, record in enumerate(records, start=1):
        if show and count % 500 == 0:
            print(f"\rscanned {count} items…", end="", file=sys.stderr, flush=True)
        yield record
    if show:
        print(f"\rscanned {count} items", file=sys.stderr, flush=True)
