"""The handle a running body holds: :class:`Lock`, read with :func:`current_lock`.

A lock's lease and whether it was lost change as idemlock extends it or finds it taken over;
they change only through the lock's own methods.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextvars import ContextVar
from typing import Final

from idemlock.errors import ConfigurationError

LAMBDA_LEASE_GRACE_MS: Final = 2_000
"""Added to a Lambda invocation's remaining time: its lease outlives it by this much, which must
exceed the clock skew between two invocations' hosts."""


MAX_EXTEND_S: Final = 366 * 24 * 3600
"""The longest :meth:`Lock.extend`: a lease bounds how long a crash blocks its key."""


class Lock:
    """The claim a running body holds; read it with :func:`idemlock.current_lock`.

    ``fence`` strictly increases across successive claims of one key (also across a takeover and
    a failure), so a downstream write conditioned on ``fence`` rejects a stale owner.
    ``lease_expires_at_ms`` is the lease as it stands now (heartbeats and :meth:`extend` move
    it), and ``lost`` turns true once an extension or the complete finds that another
    invocation took the key over. Read-only to callers.
    """

    __slots__ = ("_attempt", "_extend", "_fence", "_key", "_lease_ms", "_lost", "_owner")

    def __init__(
        self, key: str, owner: str, fence: int, lease_expires_at_ms: int, attempt: int = 1
    ) -> None:
        self._key = key
        self._owner = owner
        self._fence = fence
        self._lease_ms = lease_expires_at_ms
        self._attempt = attempt
        self._lost = False
        self._extend: Callable[[int], None] | None = None

    @property
    def key(self) -> str:
        """The stored key, ``namespace#key``."""
        return self._key

    @property
    def owner(self) -> str:
        """The owner token of this claim."""
        return self._owner

    @property
    def fence(self) -> int:
        """The fencing token of this claim."""
        return self._fence

    @property
    def attempt(self) -> int:
        """How many times the key has been claimed, this claim included."""
        return self._attempt

    @property
    def lease_expires_at_ms(self) -> int:
        """When the lease ends now, in epoch milliseconds."""
        return self._lease_ms

    @property
    def lost(self) -> bool:
        """Whether another invocation has taken the key over (its complete will be refused)."""
        return self._lost

    def extend(self, seconds: float) -> None:
        """Move the lease to ``seconds`` from now (inside Lambda, never past the deadline).

        One conditional write on this claim's owner token; :class:`~idemlock.errors.LockLostError`
        if another invocation holds the key now. It blocks for that call: from an ``async``
        body, ``await asyncio.to_thread(lock.extend, seconds)``.
        """
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not 0 < seconds <= MAX_EXTEND_S
        ):
            raise ConfigurationError(
                f"extend() takes positive seconds, at most {MAX_EXTEND_S} (a year), got {seconds!r}"
            )
        if self._extend is None:
            raise ConfigurationError(
                f"extend() on the lock of {self._key!r}: it is not held by a running body (its "
                "call has ended, or its body never started)"
            )
        self._extend(math.ceil(seconds * 1000))

    # -- idemlock's own changes: the protocol and the lease code call these, nothing else ---------

    def _held_with(self, extend: Callable[[int], None]) -> None:
        """Let :meth:`extend` work: ``extend(lease_ms)`` moves the lease on the store."""
        self._extend = extend

    def _ended(self) -> None:
        """The body ended: :meth:`extend` is refused from now on (nothing was lost)."""
        self._extend = None

    def _moved_to(self, lease_expires_at_ms: int) -> None:
        """The store holds the lease until ``lease_expires_at_ms``.

        Answers arrive in any order, and a stored lease only moves forward: the latest is the
        largest.
        """
        self._lease_ms = max(self._lease_ms, lease_expires_at_ms)

    def _lose(self) -> bool:
        """Mark the lock lost; whether it was not lost before (so it is told once)."""
        first = not self._lost
        self._lost = True
        return first

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lock):
            return NotImplemented
        return (self._key, self._owner, self._fence) == (other._key, other._owner, other._fence)

    def __hash__(self) -> int:
        return hash((self._key, self._owner, self._fence))

    def __repr__(self) -> str:
        return (
            f"Lock(key={self._key!r}, owner={self._owner!r}, fence={self._fence}, "
            f"lease_expires_at_ms={self._lease_ms}, attempt={self._attempt}, lost={self._lost})"
        )


def new_owner_token() -> str:
    """A fresh random owner token: 128 bits as 32 hex digits."""
    return os.urandom(16).hex()


CURRENT_LOCK: ContextVar[Lock | None] = ContextVar("idemlock_current_lock", default=None)
"""The lock of the body running in this context: set by the drivers, read by current_lock()."""


def current_lock() -> Lock | None:
    """The :class:`Lock` held by the idempotent body running in this context, else ``None``."""
    return CURRENT_LOCK.get()
