"""What every ``idemlock`` subcommand shares: exit codes, refusals, questions, Ctrl-C."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Final

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
"""Not found, refused, not confirmed, or a check failed: one line on stderr says why."""
EXIT_USAGE: Final = 2
"""The command line is wrong: the subcommand's usage, then one line naming the problem."""
EXIT_INTERRUPTED: Final = 130
"""Ctrl-C: the shells' code for a command ended by SIGINT (128 + 2)."""

AWS_SETUP_FIXES: Final = {
    "region": "pass --region REGION or set AWS_REGION",
    "credentials": "pass --profile NAME (or set AWS_PROFILE) for a profile that has some, or set "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    "profile": "check --profile (or AWS_PROFILE): `aws configure list-profiles` lists the "
    "profiles there are",
}
"""What to do, in the command's own flags, for each :class:`AWSSetupError` setting."""


class UsageError(Exception):
    """The command line is wrong in a way argparse cannot see; exit code 2."""


class Refused(Exception):
    """Not found, not confirmed, or refused for safety; exit code 1 with this message."""


class Interrupted(Exception):
    """Ctrl-C stopped a command part way; exit code 130 with this message (what was done)."""


def api_call(call: Callable[[], Any]) -> tuple[str | None, dict[str, Any]]:
    """The error code of a DynamoDB call, and its response (or the error's).

    The code is ``None`` if the call succeeded or failed its condition: both mean IAM allowed it.
    """
    from botocore.exceptions import ClientError  # noqa: PLC0415  (botocore is loaded by now)

    try:
        return None, call()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        response: dict[str, Any] = dict(exc.response)
        return (None if code == "ConditionalCheckFailedException" else code), response


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


@contextmanager
def interrupt_between_steps() -> Iterator[Callable[[], bool]]:
    """Ctrl-C in the block stops it between two steps, not inside one.

    The block asks the function it is given whether Ctrl-C was pressed, and stops there, so
    what it did is known exactly (a request cut off midway may or may not have been carried
    out). A second Ctrl-C interrupts at once. Ignored SIGINT (a background job) stays ignored.
    """
    pressed = False
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal pressed
        pressed = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    if previous is signal.SIG_IGN:
        yield lambda: False
        return
    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: pressed
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
