"""Moving a held lease forward, and what happens when the key turns out to be lost.

:func:`extend_lease` is the one conditional extension (``Lock.extend``, heartbeats and a batch's
late bodies all use it); :func:`extender` binds it for one claim, never past the invocation's
deadline; :func:`heartbeat` runs it periodically beside a body (:mod:`idemlock._heartbeat`);
:func:`lose` marks a lock lost and tells everyone once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from idemlock._policy import Policy, in_progress_ttl_s
from idemlock.errors import LockLostError, StoreError

if TYPE_CHECKING:
    from idemlock._heartbeat import Heartbeat
    from idemlock.lock import Lock
    from idemlock.store import LockStore

logger = logging.getLogger("idemlock")


def extend_lease(store: LockStore, policy: Policy, lock: Lock, lease_expires_at_ms: int) -> Lock:
    """``lock`` with its lease moved to ``lease_expires_at_ms`` on the store (one call).

    Raises :class:`LockLostError` when the key is no longer ours in progress: our lease ran out
    and another invocation took the key over.
    """
    try:
        extended = store.extend(
            lock.key,
            lock.owner,
            lease_expires_at_ms=lease_expires_at_ms,
            expires_at_s=in_progress_ttl_s(lease_expires_at_ms),
        )
    except StoreError as exc:
        policy.emit("store_error", lock.key, lock=lock, error=exc)
        raise
    if not extended:
        raise lose(policy, lock)
    lock._moved_to(lease_expires_at_ms)
    policy.emit("extended", lock.key, lock=lock)
    return lock


def extender(
    store: LockStore, policy: Policy, lock: Lock, limit_ms: int | None
) -> Callable[[int], None]:
    """What :meth:`Lock.extend` and heartbeats call to move ``lock``'s lease.

    ``extend(lease_ms)`` moves it to ``lease_ms`` from now, never past ``limit_ms`` (inside
    Lambda, the deadline plus the grace).
    """

    def extend(lease_ms: int) -> None:
        target = policy.clock_us() // 1000 + lease_ms
        if limit_ms is not None:
            target = min(target, limit_ms)
        if target <= lock.lease_expires_at_ms:
            return  # at the deadline already: nothing to gain, no call
        extend_lease(store, policy, lock, target)

    return extend


def heartbeat(heartbeat_ms: int, extend: Callable[[int], None], lease_ms: int) -> Heartbeat:
    """A heartbeat calling ``extend(lease_ms)`` (see :func:`extender`) while the body runs.

    Every ``heartbeat_ms`` (0: a third of the lease), so that two beats can fail before the
    lease runs out. A lost lock stops it (``lock_lost`` is emitted); a store error is emitted and
    the next beat tries again. Only with ``heartbeat=`` (``Policy.heartbeat_ms`` not ``None``).
    """
    # Deferred: only heartbeat= loads it, which keeps the cold start short.
    from idemlock._heartbeat import Heartbeat  # noqa: PLC0415

    def beat() -> bool:
        try:
            extend(lease_ms)
        except LockLostError:
            return False
        except StoreError:
            return True  # emitted; the lease still has two periods left for the next beat
        return True

    period_ms = heartbeat_ms or max(1, lease_ms // 3)
    return Heartbeat(beat, period_ms / 1000)


def lose(policy: Policy, lock: Lock) -> LockLostError:
    """Mark ``lock`` lost; tell the logger, ``on_event`` and ``on_lock_lost``; the error."""
    lost = LockLostError(lock.key, lock.owner)
    if not lock._lose():
        return lost  # told once already (a beat found it before the complete did)
    policy.emit("lock_lost", lock.key, lock=lock, error=lost)
    if policy.on_lock_lost is not None:
        try:
            policy.on_lock_lost(lock)
        except Exception:  # the body learns it from current_lock().lost all the same
            logger.warning("on_lock_lost raised for %r", lock.key, exc_info=True)
    return lost
