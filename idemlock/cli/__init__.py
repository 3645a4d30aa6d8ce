"""The ``idemlock`` command: see and operate the lock table, and a one-command demo.

Subcommands: ``create-table``, ``ls``, ``show``, ``release``, ``purge``, ``stats``, ``doctor``,
``template``, ``local`` and ``demo``. ``main(argv) -> int`` so tests call it directly as well as
through the console script. Exit codes: 0 ok; 1 not found, refused or failed (one line on stderr
saying why); 2 usage (the subcommand's usage, then one line naming the problem).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from idemlock import __version__
from idemlock.cli.commands import VERBS
from idemlock.cli.common import EXIT_FAILED, EXIT_USAGE, Refused, UsageError
from idemlock.errors import IdemlockError

DEBUG_ENV = "IDEMLOCK_DEBUG"
"""Set to show the traceback of an unexpected error instead of its one line."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="idemlock", description="See and operate idemlock's DynamoDB lock table."
    )
    parser.add_argument("--version", action="version", version=f"idemlock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for verb in VERBS:
        verb.register(commands)
    for subparser in commands.choices.values():
        # A usage error found after parsing shows the subcommand's usage, as argparse's own do.
        subparser.set_defaults(command_parser=subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            args.command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
        try:
            return int(args.run(args))
        except UsageError as exc:
            args.command_parser.error(str(exc))
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except (Refused, IdemlockError) as exc:
        # One line that says what to do, never a traceback: operators read this.
        print(f"idemlock: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("idemlock: interrupted", file=sys.stderr)
    except Exception as exc:
        # A bug of ours or an error nobody translated yet: still one line, and how to see more.
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"idemlock: unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 to see the "
            "traceback, and please report it)",
            file=sys.stderr,
        )
    return EXIT_FAILED


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
