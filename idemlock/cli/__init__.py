"""The ``idemlock`` command: see and operate the lock table, and a one-command demo.

Subcommands: ``create-table``, ``ls``, ``show``, ``release``, ``purge``, ``stats``, ``template``
and ``demo``. ``main(argv) -> int`` so tests call it directly as well as through the console
script. Exit codes: 0 ok; 1 not found, refused or failed (one line on stderr saying why); 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from idemlock.cli import demo, listing, operations, table
from idemlock.cli.common import Refused, UsageError
from idemlock.errors import IdemlockError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="idemlock", description="See and operate idemlock's DynamoDB lock table."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    table.register(commands)
    listing.register(commands)
    operations.register(commands)
    demo.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        code: int = args.run(args)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"idemlock: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (Refused, IdemlockError) as exc:
        # One line that says what to do, never a traceback: operators read this.
        print(f"idemlock: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("idemlock: interrupted", file=sys.stderr)
        return EXIT_FAILED
    return code


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
