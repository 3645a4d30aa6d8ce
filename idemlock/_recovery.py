"""One run's recovery points (``idemlock.step``): the steps recorded so far, and recording more.

A run starts with the steps its claim found on the item (an earlier run's, kept through a
failure or a takeover); :class:`Recovery` replays those and records new ones, each write
conditioned on the run's own claim (owner and fence), so a stale owner's record is refused
(``LockLostError``). A record that fails is sent again (:data:`RECORD_BACKOFF_S`); one that
fails through every attempt leaves the key held, never freed, so that the step does not run
again before the lease ends. The driver makes it :data:`CURRENT_RUN` while the body runs, beside
``current_lock()``.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

from idemlock._leases import lose
from idemlock._results import encode, replay, unstored, unstored_reason
from idemlock.errors import ResultNotStoredError, StepError, StoreError, UnstorableResultError

if TYPE_CHECKING:
    from idemlock._policy import Policy
    from idemlock.lock import Lock
    from idemlock.store import LockStore

logger = logging.getLogger("idemlock")

RECORD_BACKOFF_S: Final = (0.1, 0.4)
"""Pauses between the attempts to record a step whose function ran (as between a complete's);
botocore's own retries run inside each attempt."""


class Recovery:
    """The recovery points of one run of one key's body."""

    __slots__ = ("_lock", "_policy", "_recorded", "_store", "_unrecorded", "_used")

    def __init__(
        self, store: LockStore, policy: Policy, lock: Lock, recorded: tuple[tuple[str, str], ...]
    ) -> None:
        self._store, self._policy, self._lock = store, policy, lock
        self._recorded = dict(recorded)
        self._used: set[str] = set()
        self._unrecorded: str | None = None

    @property
    def keeps_steps(self) -> bool:
        """Whether the item holds steps: a failure then frees the key and keeps them."""
        return bool(self._recorded)

    @property
    def unrecorded(self) -> str | None:
        """The step that ran but could not be recorded, if any: the key must stay held.

        Freeing it would let the next run do the step again at once; held, it frees itself
        when its lease ends, as after a complete that could not be written.
        """
        return self._unrecorded

    def enter(self, name: str) -> tuple[bool, Any]:
        """Start step ``name``: ``(True, value)`` to replay it, ``(False, None)`` to run it.

        A name used twice in one run is a :class:`StepError`: the second would replay the
        first's result, which is never what the body meant.
        """
        if not isinstance(name, str) or not name:
            raise StepError(f"a step's name is a non-empty string, got {name!r}")
        if name in self._used:
            raise StepError(
                f"step {name!r} ran already in this run of {self._lock.key!r}: give each step "
                "of a body its own name"
            )
        self._used.add(name)
        if name in self._recorded:
            self._policy.emit("step_replayed", self._lock.key, lock=self._lock)
            text, key = self._recorded[name], self._lock.key
            reason = unstored_reason(text)
            if reason is not None and not self._policy.omit_unstorable:
                raise ResultNotStoredError(key, reason, step=name)
            return True, replay(text, key, result_type=None, omit_unstorable=True)
        return False, None

    def record(self, name: str, value: object) -> None:
        """Store step ``name``'s ``value`` on our claim before the body goes on."""
        key = self._lock.key
        unstorable: UnstorableResultError | None = None
        try:
            text = encode(value, key, self._store)
        except UnstorableResultError as exc:
            # The step ran: recorded as ran without its result (the marker), never run again.
            unstorable = exc
            text = unstored(exc.reason)
            logger.warning("%s; step %r recorded without its result", exc.reason, name)
        recorded = {**self._recorded, name: text}
        if not self._sent(name, tuple(sorted(recorded.items()))):
            raise lose(self._policy, self._lock)
        self._recorded = recorded
        self._policy.emit("step_recorded", key, lock=self._lock)
        if unstorable is not None and not self._policy.omit_unstorable:
            raise UnstorableResultError(key, unstorable.reason, step=name) from unstorable

    def _sent(self, name: str, steps: tuple[tuple[str, str], ...]) -> bool:
        """Send the record, again after a store error (the step ran: it must not run twice).

        A record whose answer was lost lands again on the same claim (same owner and fence).
        """
        lock = self._lock
        for pause_s in RECORD_BACKOFF_S:
            try:
                return self._store.record_steps(lock.key, lock.owner, fence=lock.fence, steps=steps)
            except StoreError:
                logger.warning(
                    "recording step %r of %r failed; retrying in %.1f s", name, lock.key, pause_s
                )
                time.sleep(pause_s)
        try:
            return self._store.record_steps(lock.key, lock.owner, fence=lock.fence, steps=steps)
        except StoreError as exc:
            self._unrecorded = name
            self._policy.emit("store_error", lock.key, lock=lock, error=exc)
            raise


CURRENT_RUN: ContextVar[Recovery | None] = ContextVar("idemlock_current_run", default=None)
"""The recovery points of the body running in this context, if any."""
