"""``idemlock create-table``: the lock table, made now (on-demand, TTL on) and waited for."""

from __future__ import annotations

import argparse
from typing import Any

from idemlock.cli.common import EXIT_OK, api_call
from idemlock.cli.flags import add_common_flags, store_for, table_name_text
from idemlock.cli.output import print_json
from idemlock.dynamodb import DynamoDBStore


def register(commands: Any) -> None:
    """Add ``create-table``."""
    create = commands.add_parser(
        "create-table", help="create the lock table (on-demand, TTL on), wait until ACTIVE"
    )
    create.add_argument(
        "name",
        metavar="NAME",
        nargs="?",
        type=table_name_text,
        help="table name (default: --table)",
    )
    add_common_flags(create)
    create.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Create the table, or accept an existing one with the right key schema (TTL turned on)."""
    store = store_for(args, args.name)
    ttl_was_on = _ttl_on(store)
    created = store.create_table(wait=True)
    ttl_turned_on = not created and ttl_was_on is False
    if args.output == "json":
        print_json({"table": store.table_name, "created": created, "ttl_turned_on": ttl_turned_on})
    elif created:
        names = store.attributes
        sort_key = "" if names.sort_key is None else f", sort key {names.sort_key!r} (S)"
        print(
            f"created table {store.table_name!r}: on-demand, key {names.key!r} (S){sort_key}, "
            f"TTL on {names.expires_at_s!r}; ACTIVE"
        )
    elif ttl_turned_on:
        print(
            f"table {store.table_name!r} already exists with the right key schema; turned TTL on "
            f"{store.attributes.expires_at_s!r} (it was off: completed locks were never deleted)"
        )
    else:
        print(f"table {store.table_name!r} already exists with the right key schema; TTL on")
    return EXIT_OK


def _ttl_on(store: DynamoDBStore) -> bool | None:
    """Whether TTL is on the store's expiry attribute.

    ``None`` if that cannot be read: no table yet, an endpoint without TTL, a caller who may
    not ask.
    """
    code, response = api_call(
        lambda: store.client.describe_time_to_live(TableName=store.table_name)
    )
    if code is not None:
        return None
    ttl = response.get("TimeToLiveDescription", {})
    return (
        ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
        and ttl.get("AttributeName") == store.attributes.expires_at_s
    )
