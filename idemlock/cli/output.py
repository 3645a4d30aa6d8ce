"""What the commands print.

JSON for scripts, tables for people (control characters escaped), progress on stderr, and
times and durations as people read them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Final, TextIO

from idemlock.item import utc_text

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
    """Epoch milliseconds as an ISO 8601 UTC time (``None`` stays ``None``)."""
    return None if epoch_ms is None else utc_text(epoch_ms)


def print_json(value: object, out: TextIO | None = None) -> None:
    """JSON on stdout, sorted keys and one document per command, for scripts."""
    print(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False), file=out or sys.stdout)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Left-aligned columns, two spaces apart; control characters escaped (:func:`visible`)."""
    materialised = [list(headers), *[[visible(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in materialised) for i in range(len(headers))]
    for row in materialised:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def visible(text: str) -> str:
    r"""``text`` with every character that is not printable escaped as Python writes it.

    Keys come from events (an S3 object name can hold any character): printed raw, a newline
    splits a row and an escape sequence reaches the terminal. ``\n``, ``\x1b``, and the
    bidirectional overrides that reorder what is shown (``\u202e``) are shown escaped.
    """
    if text.isprintable():
        return text
    # repr() escapes exactly the characters str.isprintable() refuses, as Python writes them.
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class Progress:
    """One line on stderr that counts as a command goes (by default only on a terminal)."""

    def __init__(self, enabled: bool | None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._width = 0

    def show(self, text: str) -> None:
        """Replace the line with ``text`` (still going)."""
        self._write(f"{text}…", end="")

    def end(self, text: str) -> None:
        """Replace the line with ``text``, and end it."""
        self._write(text, end="\n")

    def _write(self, text: str, *, end: str) -> None:
        if self.enabled:
            # Padded to the last line's width: a shorter line must not leave its tail behind.
            print(f"\r{text:<{self._width}}", end=end, file=sys.stderr, flush=True)
            self._width = 0 if end else len(text)
