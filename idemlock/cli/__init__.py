"""The ``idemlock`` command: see and operate the lock table, and a one-command demo.

Subcommands: ``create-table``, ``ls``, ``show``, ``release``, ``purge``, ``stats``, ``doctor``,
``template``, ``local`` and ``demo``, one module each in :mod:`idemlock.cli.commands`.
``main(argv) -> int`` so tests call it directly as well as through the console script. Exit
codes: 0 ok; 1 not found, refused or failed (one line on stderr saying why); 2 usage (the
subcommand's usage, then one line naming the problem); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from idemlock import __version__
from idemlock.cli.commands import VERBS
from idemlock.cli.common import (
    AWS_SETUP_FIXES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Interrupted,
    Refused,
    UsageError,
)
from idemlock.errors import AWSSetupError, IdemlockError

DEBUG_ENV = "IDEMLOCK_DEBUG"
"""Set to show the traceback of an unexpected error instead of its one line."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="idemlock", description="See and operate idemlock's DynamoDB lock table."
    )
    # -v and -V too: people type them for the version (and idemlock has no verbose mode).
    parser.add_argument(
        "-V", "-v", "--version", action="version", version=f"idemlock {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for verb in VERBS:
        verb.register(commands)
    for subparser in commands.choices.values():
        # A usage error found after parsing shows the subcommand's usage, as argparse's own do.
        subparser.set_defaults(command_parser=subparser)
    return parser


_DASH_VALUE = re.compile(r"^-\d")
"""A value that starts like a negative number but is not one, such as ``-7d``."""


def attach_dash_values(argv: Sequence[str]) -> list[str]:
    """``--flag -7d`` as ``--flag=-7d``, so the flag's own type says what is wrong with it.

    argparse takes ``-7d`` for an option and answers "expected one argument"; it passes plain
    negative numbers (``--limit -1``) on already.
    """
    attached: list[str] = []
    for token in argv:
        previous = attached[-1] if attached else ""
        if (
            _DASH_VALUE.match(token)
            and previous.startswith("--")
            and "=" not in previous
            and previous != "--"
        ):
            attached[-1] = f"{previous}={token}"
        else:
            attached.append(token)
    return attached


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(
            attach_dash_values(sys.argv[1:] if argv is None else argv)
        )
        if extra:
            args.command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
        try:
            return int(args.run(args))
        except UsageError as exc:
            args.command_parser.error(str(exc))
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except AWSSetupError as exc:
        # The library's message names its own arguments; here the flags say it.
        print(f"idemlock: {exc.problem}: {AWS_SETUP_FIXES[exc.setting]}", file=sys.stderr)
    except (Refused, IdemlockError) as exc:
        # One line that says what to do, never a traceback: operators read this.
        print(f"idemlock: {exc}", file=sys.stderr)
    except Interrupted as exc:
        print(f"idemlock: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("idemlock: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
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
