"""What idemlock decided, one small immutable event per transition, for ``on_event=`` and logs.

Every protected call passes through a few transitions — a claim taken, a duplicate replayed, a
body completed, a lease extended, a lock lost — and each becomes a :class:`LockEvent`. Give a
callable as ``on_event=`` to see them (metrics, traces, tests); the same transitions are logged
on the ``idemlock`` logger with the event's fields as structured ``extra`` (see :func:`log`), so a
JSON formatter, Powertools Logger or structlog picks them up without glue.

Kinds, and when they happen:

==================== ===========================================================================
``claimed``          the key was free (absent, or its retention over; ``attempt`` counts the
                     claims over the item's life): this call holds it
``taken_over``       the key was held by an invocation whose lease ran out: this call holds it now
``duplicate``        the key had completed: its stored result is returned (``cached``: from the
                     warm container's local cache, no call)
``in_progress``      another invocation holds the key within its lease: refused
``payload_mismatch`` the key completed or runs with another payload (``fingerprint=``)
``completed``        the body returned and its result is stored (``duration_ms``: the body's)
``released``         the body failed and the key was freed for a redelivery
``extended``         the lease was moved on (heartbeat, ``current_lock().extend()``)
``lock_lost``        another invocation took the key over while this one ran (an extension, the
                     complete or the release after a failure found it)
``store_error``      the lock table could not be reached or refused a request
``outcome_unknown``  ``on_lease_expired="refuse"``: the key's holder ran out of lease before it
                     completed; the body was not run again and the key awaits an operator
``step_recorded``    an ``idemlock.step()`` ran and its result is stored on the claim
``step_replayed``    an ``idemlock.step()`` recorded by an earlier run returned its stored result
==================== ===========================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, Literal, NamedTuple, cast, get_args

from idemlock._levels import LEVELS as _KIND_LEVELS

__all__ = ["EVENT_KINDS", "LEVELS", "EventKind", "EventSink", "LockEvent", "log"]

EventKind = Literal[
    "claimed",
    "taken_over",
    "duplicate",
    "in_progress",
    "payload_mismatch",
    "completed",
    "released",
    "extended",
    "lock_lost",
    "store_error",
    "outcome_unknown",
    "step_recorded",
    "step_replayed",
]

EVENT_KINDS: Final[tuple[EventKind, ...]] = get_args(EventKind)
"""Every kind, in the order of :data:`EventKind`."""


class LockEvent(NamedTuple):
    """One transition of one key: what happened, to which key, under which claim."""

    kind: EventKind
    key: str
    """The stored key, ``namespace#key``."""
    namespace: str
    fence: int | None = None
    """The claim's fencing token, when a claim is involved."""
    attempt: int | None = None
    """How many times the key has been claimed, this claim included, when known."""
    duration_ms: float | None = None
    """The body's run time (``completed``, ``released``), or the call's (``store_error``)."""
    cached: bool = False
    """``duplicate`` answered from the local cache, without a call."""
    error: BaseException | None = None
    """What went wrong (``store_error``, ``lock_lost``, ``released``)."""


EventSink = Callable[[LockEvent], object]
"""What ``on_event=`` takes: any callable of one :class:`LockEvent`."""

_logger = logging.getLogger("idemlock")

LEVELS: Final = cast("dict[EventKind, int]", _KIND_LEVELS)
"""The level each kind is logged at: DEBUG for the hot path, INFO for what an operator may want to
see, WARNING for trouble."""


def log(event: LockEvent) -> None:
    """Log ``event`` on the ``idemlock`` logger, its fields as ``extra`` (``idemlock_kind``...)."""
    level = LEVELS[event.kind]
    if not _logger.isEnabledFor(level):
        return  # the hot path's usual case: nothing built
    _logger.log(
        level,
        "%s %s (fence %s)",
        event.kind,
        event.key,
        event.fence,
        exc_info=event.error if event.kind in ("lock_lost", "store_error") else None,
        extra={
            "idemlock_kind": event.kind,
            "idemlock_key": event.key,
            "idemlock_namespace": event.namespace,
            "idemlock_fence": event.fence,
            "idemlock_attempt": event.attempt,
            "idemlock_duration_ms": event.duration_ms,
            "idemlock_cached": event.cached,
        },
    )
