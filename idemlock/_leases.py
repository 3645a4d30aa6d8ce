"""Moving a held lease forward, and what happens when the key turns out to be lost.

:func:`extend_lease` is the one conditional extension (``Lock.extend``, heartbeats and the
renewal before a body all use it); :func:`extender` binds it for one claim, never past the
invocation's deadline; :class:`Renewal` gives a body whose claim aged its whole lease before it
starts; :func:`heartbeat` runs it periodically beside a body (:mod:`idemlock._heartbeat`);
:func:`lose` marks a lock lost and tells everyone once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Final

from idemlock._policy import Policy, in_progress_ttl_s
from idemlock.errors import LockLostError, StoreError

if TYPE_CHECKING:
    from idemlock._heartbeat import Heartbeat, Told
    from idemlock.lock import Lock
    from idemlock.store import LockStore

logger = logging.getLogger("idemlock")


def _now(told: Told) -> None:
    """Tell at once, on this thread (a body's own :meth:`Lock.extend`)."""
    told()


def extend_lease(
    store: LockStore,
    policy: Policy,
    lock: Lock,
    lease_expires_at_ms: int,
    *,
    tell: Callable[[Told], None] = _now,
) -> Lock:
    """``lock`` with its lease moved to ``lease_expires_at_ms`` on the store (one call).

    The lock then holds what the store holds: a later lease that landed first stays. Raises
    :class:`LockLostError` when the key is no longer ours in progress: our lease ran out and
    another invocation took the key over. Events go through ``tell`` (a heartbeat's thread).
    """
    try:
        held = store.extend(
            lock.key,
            lock.owner,
            lease_expires_at_ms=lease_expires_at_ms,
            expires_at_s=in_progress_ttl_s(lease_expires_at_ms),
        )
    except StoreError as exc:
        tell(partial(policy.emit, "store_error", lock.key, lock=lock, error=exc))
        raise
    if held is None:
        raise lose(policy, lock, tell=tell)
    lock._moved_to(held)  # what the store holds: ours, or a later lease that landed first
    tell(partial(policy.emit, "extended", lock.key, lock=lock))
    return lock


def lease_end_ms(policy: Policy, lease_ms: int, limit_ms: int | None) -> int:
    """When a lease of ``lease_ms`` from now ends, never past ``limit_ms`` (the deadline)."""
    end_ms = policy.clock_us() // 1000 + lease_ms
    return end_ms if limit_ms is None else min(end_ms, limit_ms)


def extender(
    store: LockStore,
    policy: Policy,
    lock: Lock,
    limit_ms: int | None,
    *,
    tell: Callable[[Told], None] = _now,
) -> Callable[[int], None]:
    """What :meth:`Lock.extend` and heartbeats call to move ``lock``'s lease.

    ``extend(lease_ms)`` moves it to ``lease_ms`` from now, never past ``limit_ms`` (inside
    Lambda, the deadline plus the grace).
    """

    def extend(lease_ms: int) -> None:
        target = lease_end_ms(policy, lease_ms, limit_ms)
        if target <= lock.lease_expires_at_ms:
            return  # at the deadline already: nothing to gain, no call
        extend_lease(store, policy, lock, target, tell=tell)

    return extend


RENEWALS: Final = 3
"""How many times a lease is renewed before its body starts (see :func:`renewal`)."""


def renew_after_ms(lease_ms: int) -> int:
    """How old a claim may be when its body starts before its lease is renewed first.

    A tenth of the lease, at most a second: quick claims and bodies renew nothing.
    """
    return min(lease_ms // 10, 1_000)


class Renewal:
    """What a driver calls just before the body: its whole lease ahead of it, as ``lease=`` says.

    A lease is counted from its claim's time, not from its answer's, nor from the body's start:
    a claim answered late (a slow network, a retried request) or a batch record behind slow
    ones may have little of its lease left, or none, and another invocation may have taken it
    over. So a lease shorter than ``lease_ms`` from now (never past ``limit_ms``) by more than
    :func:`renew_after_ms` is renewed, on condition that we still own the key
    (:class:`LockLostError` if not: the body does not run).

    The renewal tells its ``extended`` event on this thread, before the body: an ``on_event``
    sink slower than the lease would start the body on a lapsed lease, taken over meanwhile.
    So the lease is looked at again after each renewal and renewed again (at most
    :data:`RENEWALS` times); a lease that still ran out is lost.
    """

    __slots__ = ("_lease_ms", "_limit_ms", "_lock", "_policy", "_store")

    def __init__(
        self, store: LockStore, policy: Policy, lock: Lock, lease_ms: int, limit_ms: int | None
    ) -> None:
        self._store, self._policy, self._lock = store, policy, lock
        self._lease_ms, self._limit_ms = lease_ms, limit_ms

    def due(self) -> bool:
        """Whether the lease ran short: an ``async`` driver then renews it in a worker thread."""
        return self._target_ms() is not None

    def __call__(self) -> None:
        """Renew the lease if it ran short (one store call, more only after slow events)."""
        lock = self._lock
        for _ in range(RENEWALS):
            target = self._target_ms()
            if target is None:
                return
            extend_lease(self._store, self._policy, lock, target)
        if lock.lease_expires_at_ms <= self._policy.clock_us() // 1000:
            raise lose(self._policy, lock)  # every renewal's events outlasted the lease

    def _target_ms(self) -> int | None:
        """The lease's end it is owed now, if it falls short of it by more than the threshold."""
        target = lease_end_ms(self._policy, self._lease_ms, self._limit_ms)
        short = self._lock.lease_expires_at_ms < target - renew_after_ms(self._lease_ms)
        return target if short else None


def heartbeat(
    store: LockStore, policy: Policy, lock: Lock, limit_ms: int | None, lease_ms: int
) -> Heartbeat | None:
    """A heartbeat moving ``lock``'s lease to ``lease_ms`` from now while the body runs.

    Every ``policy.heartbeat_ms`` (0, or not shorter than this call's lease: a third of the
    lease), so that two beats can fail before the lease runs out. A lost lock stops it
    (``lock_lost`` is told); a store error is told and the next beat tries again. Its events
    are told from a thread of their own (:mod:`idemlock._heartbeat`). ``None`` without
    ``heartbeat=``.
    """
    if policy.heartbeat_ms is None:
        return None
    period_ms = policy.heartbeat_ms
    if not 0 < period_ms < lease_ms:  # a lease from the Lambda context may be the shorter
        period_ms = max(1, lease_ms // 3)
    # Deferred: only heartbeat= loads it (and asyncio, which older wrapt does not load), which
    # keeps the cold start of a handler without heartbeats short.
    from idemlock._heartbeat import Heartbeat  # noqa: PLC0415

    beats = Heartbeat(period_ms / 1000)
    extend = extender(store, policy, lock, limit_ms, tell=beats.tell)

    def beat() -> bool:
        try:
            extend(lease_ms)
        except LockLostError:
            return False
        except StoreError:
            return True  # told; the lease still has two periods left for the next beat
        return True

    return beats.beating(beat)


def lose(policy: Policy, lock: Lock, *, tell: Callable[[Told], None] = _now) -> LockLostError:
    """Mark ``lock`` lost at once; tell the logger, ``on_event`` and ``on_lock_lost`` once."""
    lost = LockLostError(lock.key, lock.owner)
    if lock._lose():
        tell(partial(_tell_lost, policy, lock, lost))
    return lost  # else told once already (a beat found it before the complete did)


def _tell_lost(policy: Policy, lock: Lock, lost: LockLostError) -> None:
    policy.emit("lock_lost", lock.key, lock=lock, error=lost)
    if policy.on_lock_lost is not None:
        try:
            policy.on_lock_lost(lock)
        except Exception:  # the body learns it from current_lock().lost all the same
            logger.warning("on_lock_lost raised for %r", lock.key, exc_info=True)
