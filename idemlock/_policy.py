"""The settings of one decorated function as the protocol reads them, and its time arithmetic.

:class:`Policy` holds what shapes every invocation (leases, retention, results, cache, sinks)
and tells of transitions (:meth:`Policy.emit`); :class:`FenceBase` starts the fences of keys
without an item; :func:`in_progress_ttl_s` and :func:`ceil_s` turn milliseconds into the
epoch seconds DynamoDB's TTL reads.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from idemlock._levels import LEVELS
from idemlock.lock import LAMBDA_LEASE_GRACE_MS, Lock

if TYPE_CHECKING:
    from idemlock._cache import CompletedCache
    from idemlock.events import EventKind, EventSink
    from idemlock.item import LockItem
    from idemlock.store import LockStore

logger = logging.getLogger("idemlock")


def _unreadable_remaining_time(context: object, millis: object) -> None:
    """Say that a context's remaining time is unreadable (never silent): no deadline cap then."""
    logger.warning(
        "%s.get_remaining_time_in_millis() returned %r, not a finite number of milliseconds: "
        "this call's lease is lease= (or the default) with no Lambda deadline cap",
        type(context).__name__,
        millis,
    )


class Policy(NamedTuple):
    """One decorated function's settings, checked (read-only): what every invocation reads.

    Made by :func:`idemlock._options.validate` from the keyword options; ``namespace`` is set
    once the decorated function is known (its identity, when ``namespace=`` is not given).
    """

    store: LockStore | None
    """``None``: the default store, one per ``IDEMLOCK_TABLE`` value, found at each call."""
    namespace: str
    clock_us: Callable[[], int]
    lease_ms: int | None
    default_lease_ms: int
    retention_ms: int | None
    store_result: bool
    omit_unstorable: bool
    cache: CompletedCache | None
    on_event: EventSink | None
    on_lock_lost: Callable[[Lock], object] | None
    heartbeat_ms: int | None
    """Extend a running body's lease this often; 0: every third of the lease; None: never."""
    disabled: bool | None
    fingerprint: Callable[..., object] | None
    on_missing_key: Literal["raise", "run"]
    concurrency: int
    """Store calls of one batch in flight at once."""

    def lease_ms_for(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
        """The lease of one invocation with these arguments (see :meth:`leases_for`)."""
        return self.leases_for(args, kwargs)[0]

    def leases_for(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[int, int | None]:
        """The lease of one invocation with these arguments, and how long any lease may last.

        Inside Lambda (a context among the arguments) no invocation outlives its deadline, so
        the lease is at most the remaining time plus a grace, whatever ``lease=`` says: a
        timed-out invocation frees its key soon after Lambda stops it. A context with no time
        left gets the grace alone. Outside Lambda: ``lease=``, else the default, and no cap.
        """
        # The context is the last argument of a Lambda handler: look there first.
        candidates = (*kwargs.values(), *reversed(args)) if kwargs else reversed(args)
        for candidate in candidates:
            remaining = getattr(candidate, "get_remaining_time_in_millis", None)
            if callable(remaining):
                millis = remaining()
                if isinstance(millis, int) or (isinstance(millis, float) and math.isfinite(millis)):
                    cap = max(int(millis), 0) + LAMBDA_LEASE_GRACE_MS
                    return (cap if self.lease_ms is None else min(self.lease_ms, cap)), cap
                _unreadable_remaining_time(candidate, millis)
        return (self.default_lease_ms if self.lease_ms is None else self.lease_ms), None

    def emit(
        self,
        kind: EventKind,
        key: str,
        *,
        lock: Lock | None = None,
        item: LockItem | None = None,
        duration_ms: float | None = None,
        cached: bool = False,
        error: BaseException | None = None,
    ) -> None:
        """Tell the ``idemlock`` logger and ``on_event`` of a transition.

        ``lock`` is our claim, ``item`` the stored item of another invocation's (their fence and
        attempt either way); ``duration_ms`` the body's run time. Nothing is built when neither
        listens: the usual case (no sink, DEBUG off).
        """
        sink = self.on_event
        if sink is None and not logger.isEnabledFor(LEVELS[kind]):
            return
        # Deferred: a handler that neither sets on_event nor logs these levels never loads
        # idemlock.events, which keeps the cold start short.
        from idemlock.events import LockEvent, log  # noqa: PLC0415

        fence: int | None = None
        attempt: int | None = None
        if lock is not None:
            fence, attempt = lock.fence, lock.attempt
        elif item is not None:
            fence, attempt = item.fence, item.attempts
        event = LockEvent(kind, key, self.namespace, fence, attempt, duration_ms, cached, error)
        log(event)
        if sink is not None:
            try:
                sink(event)
            except Exception:  # a broken metrics backend must not fail the call it measures
                logger.warning("on_event raised on a %s event of %r", kind, key, exc_info=True)


class FenceBase:
    """Where fences start for a key without an item: a strictly increasing time in microseconds.

    A failed invocation deletes its item, and the stored fence with it, so the next claim's fence
    must come from time. Microseconds keep claims on different hosts ordered (a release and the
    next claim are at least a network round trip apart) given clocks in sync; the ``last + 1``
    keeps them ordered within one process even when the clock stands still (a test's clock) or
    steps back.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self, now_us: int) -> int:
        """The next base: ``now_us``, or one above the previous base if that is not higher."""
        with self._lock:
            self._last = base = max(now_us, self._last + 1)
        return base


fence_base = FenceBase()
"""The process's fence base: one for every decorated function, so fences never repeat."""


def in_progress_ttl_s(lease_expires_at_ms: int) -> int:
    """The TTL of an IN_PROGRESS item: an hour after its lease.

    TTL may remove an abandoned item once its lease is long over; leases are still enforced by
    the claim's condition, never by TTL.
    """
    return ceil_s(lease_expires_at_ms) + 3600


def ceil_s(epoch_ms: int) -> int:
    """Epoch milliseconds as epoch seconds, rounded up."""
    return -(-epoch_ms // 1000)  # integer ceiling: exact at any size, no float
