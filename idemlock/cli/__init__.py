"""The ``idemlock`` command.

``main(argv) -> int`` so tests call it directly as well as through the console script. Exit
codes: 0 ok, 1 failed or refused, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from idemlock.cli import demo
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
    except IdemlockError as exc:
        print(f"idemlock: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return code


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
