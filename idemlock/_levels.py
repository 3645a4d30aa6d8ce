"""The logging level of each kind of transition (re-exported as ``idemlock.events.LEVELS``).

A module of its own so that the claim steps can ask whether the ``idemlock`` logger wants an
event before :mod:`idemlock.events` is imported: a handler that neither logs at these levels nor
sets ``on_event`` never loads it, and a cold start stays short.
"""

from __future__ import annotations

import logging
from typing import Final

LEVELS: Final[dict[str, int]] = {
    "claimed": logging.DEBUG,
    "duplicate": logging.DEBUG,
    "completed": logging.DEBUG,
    "released": logging.DEBUG,
    "extended": logging.DEBUG,
    "in_progress": logging.INFO,
    "taken_over": logging.INFO,
    "payload_mismatch": logging.WARNING,
    "lock_lost": logging.WARNING,
    "store_error": logging.WARNING,
    "outcome_unknown": logging.WARNING,
    "step_recorded": logging.DEBUG,
    "step_replayed": logging.DEBUG,
}
"""DEBUG for the hot path, INFO for what an operator may want to see, WARNING for trouble."""
