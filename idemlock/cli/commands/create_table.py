"""``idemlock create-table``: the lock table, made now (on-demand, TTL on) and waited for."""

from __future__ import annotations

import argparse
from typing import Any

from idemlock.cli.common import EXIT_OK, add_common_flags, print_json, store_for


def register(commands: Any) -> None:
    """Add ``create-table``."""
    create = commands.add_parser(
        "create-table", help="create the lock table (on-demand, TTL on), wait until ACTIVE"
    )
    create.add_argument("name", metavar="NAME", nargs="?", help="table name (default: --table)")
    add_common_flags(create)
    create.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Create the table, or accept an existing one with the right key schema."""
    store = store_for(args, args.name)
    created = store.create_table(wait=True)
    if args.output == "json":
        print_json({"table": store.table_name, "created": created})
    elif created:
        print(
            f"created table {store.table_name!r}: on-demand, key {store.attributes.key!r} (S), "
            f"TTL on {store.attributes.expires_at_s!r}; ACTIVE"
        )
    else:
        print(f"table {store.table_name!r} already exists with the right key schema; TTL on")
    return EXIT_OK
