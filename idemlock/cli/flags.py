"""The command line the subcommands read.

Their flags, the argparse types that check each value, and the table and store they describe.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

from idemlock.cli.common import UsageError
from idemlock.dynamodb import TABLE_ENV, AttributeNames, DynamoDBStore
from idemlock.errors import ConfigurationError

DEFAULT_TABLE: Final = "idemlock"
"""The table name templates use when neither --table nor IDEMLOCK_TABLE is given."""
ENDPOINT_ENVS: Final = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")
"""Where botocore finds an endpoint when --endpoint-url is not given, most specific first."""

_FIELDS: Final = AttributeNames.__match_args__


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """What every command on a table takes: which table, where, who asks, and the output."""
    add_table_flags(parser)
    add_connection_flags(parser)
    add_output_flag(parser)


def add_table_flags(
    parser: argparse.ArgumentParser, *, default: str | None = None, items: bool = True
) -> None:
    """--table, --attribute and --sort-key-value: which table, and how its items are named.

    ``items=False``: a command that reads no item (a template, a new local table) is the same for
    every sort key value, so it takes no --sort-key-value rather than ignoring one.
    """
    fallback = f", else {default}" if default else ""
    parser.add_argument(
        "--table",
        type=table_name_text,
        help=f"lock table name (default: ${TABLE_ENV}{fallback})",
        default=None,
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
    if not items:
        return
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


def port(text: str) -> int:
    """An argparse type: a TCP port on this machine, 1 to 65535, or 0 for any free one."""
    value = count(0)(text)
    if value > _MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: give one from 1 to {_MAX_PORT}, or 0 for any free port"
        )
    return value


_MAX_PORT: Final = 65535
_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}")
"""DynamoDB's rule for a table name."""
_TABLE_ARN = re.compile(r"arn:aws[a-z-]*:dynamodb:[^:]*:[0-9]*:table/(.*)")


def table_name_text(text: str) -> str:
    """An argparse type: a DynamoDB table name, or the table's ARN.

    DynamoDB's rule: 3 to 255 characters, each a letter, a digit, ``_``, ``-`` or ``.``.
    """
    arn = _TABLE_ARN.fullmatch(text)
    if _TABLE_NAME.fullmatch(arn[1] if arn else text) is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a DynamoDB table name: use 3 to 255 letters, digits, '_', '-' or '.'"
        )
    return text


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
    given = explicit or getattr(args, "table", None)
    from_env = os.environ.get(TABLE_ENV, "").strip()
    name = given or from_env or default
    if not name:
        raise UsageError(f"no table: pass --table NAME or set {TABLE_ENV}")
    if not given and from_env:
        try:
            table_name_text(from_env)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"{TABLE_ENV}: {exc}") from exc
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


def add_key_argument(parser: argparse.ArgumentParser) -> None:
    """KEY and --namespace: the one item a command acts on."""
    parser.add_argument(
        "key", metavar="KEY", type=item_key, help="the stored key (namespace#key), or the key"
    )
    parser.add_argument("--namespace", help="KEY is a key of this namespace")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``12h``, ``7d`` or ``2w`` as seconds (argparse type).

    A bare number is refused: ``--older-than 7`` meant seven seconds once, and deleted every
    completed lock of a table whose owner meant seven days.
    """
    match = _DURATION.match(text)
    if match is None and _DURATION.match(text.strip().removeprefix("-")):
        raise argparse.ArgumentTypeError(
            f"{text!r} is negative: a duration is how long ago, e.g. "
            f"{text.strip().removeprefix('-')}"
        )
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a number with s, m, h, d or w (e.g. 7d)"
        )
    if not match.group(2):
        raise argparse.ArgumentTypeError(
            f"{text!r} has no unit: say {match.group(1)}d for days (or s, m, h, w)"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
