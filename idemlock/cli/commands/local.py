"""``idemlock local``: a DynamoDB endpoint with the lock table, for the other shells of a laptop.

It runs in the foreground until Ctrl-C, and prints the ``export`` lines that point the AWS SDKs,
the ``idemlock`` command and ``@idempotent`` at it. The embedded server is moto's (the ``demo``
extra): enough to try handlers and the command, not to prove races (its conditional writes are
not atomic under thread switches; DynamoDB Local is, see docs/operating.md).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType
from typing import Any

from idemlock.cli import embedded
from idemlock.cli.common import EXIT_OK
from idemlock.cli.flags import DEFAULT_TABLE, add_table_flags, attribute_names, port, table_name
from idemlock.dynamodb import TABLE_ENV, DynamoDBStore


def register(commands: Any) -> None:
    """Add ``local``."""
    local = commands.add_parser(
        "local",
        help="run a local DynamoDB endpoint with the lock table, in the foreground",
    )
    local.add_argument(
        "--port", type=port, default=8000, help="port on 127.0.0.1 (default: 8000; 0: any)"
    )
    add_table_flags(local, default=DEFAULT_TABLE, items=False)
    local.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl-C or SIGTERM); 0 when stopped that way."""
    table = table_name(args, default=DEFAULT_TABLE)
    names = attribute_names(args)
    # SIGINT too: a process started in the background (a CI runner, `nohup`, `&` in a script)
    # inherits SIGINT ignored, and Python then leaves it so; "Ctrl-C stops it" must hold anyway.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    with embedded.serve(args.port) as server:
        DynamoDBStore(table, client=server.client, attributes=names).create_table()
        print(
            f"DynamoDB (embedded) at {server.url}, with table {table!r} "
            f"(key {names.key!r}, TTL on {names.expires_at_s!r}).\n"
            "Paste into the shells that should use it:\n\n"
            f"export AWS_ENDPOINT_URL_DYNAMODB={server.url}\n"
            f"export AWS_REGION={embedded.REGION} AWS_DEFAULT_REGION={embedded.REGION}\n"
            f"export AWS_ACCESS_KEY_ID={embedded.CREDENTIALS[0]} "
            f"AWS_SECRET_ACCESS_KEY={embedded.CREDENTIALS[1]}\n"
            f"export {TABLE_ENV}={table}\n\n"
            "Ctrl-C stops it; the data is in memory and goes with it.",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return EXIT_OK


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGINT and SIGTERM stop the server through ``finally``, not mid-request."""
    raise KeyboardInterrupt
