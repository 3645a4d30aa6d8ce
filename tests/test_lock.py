"""``Lock``, the handle a running body holds: read-only to callers, changed by its own methods.

Units, with no store. What a held lock does on a store (extensions, a lost lock) is in
``test_heartbeat.py`` and ``test_protocol.py``.
"""

from __future__ import annotations

import pytest

from idemlock import Lock, current_lock
from idemlock.errors import ConfigurationError
from idemlock.lock import LAMBDA_LEASE_GRACE_MS, new_owner_token


def test_a_lock_outside_a_running_body_cannot_extend() -> None:
    """extend() checks its argument, then needs a body holding the lock."""
    lock = Lock("ns#k", "me", fence=7, lease_expires_at_ms=1_000)
    for bad in (0, -1, True, "5", float("nan")):
        with pytest.raises(ConfigurationError, match="positive seconds"):
            lock.extend(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not held by a running body"):
        lock.extend(5)


def test_extend_moves_the_lease_through_the_extender_it_was_held_with() -> None:
    """A held lock's extend() hands whole milliseconds to its extender, which moves the lease."""
    lock = Lock("ns#k", "me", fence=7, lease_expires_at_ms=1_000)
    asked: list[int] = []

    def extend(lease_ms: int) -> None:
        asked.append(lease_ms)
        lock._moved_to(1_000 + lease_ms)

    lock._held_with(extend)
    lock.extend(1.5001)
    assert asked == [1501]
    assert lock.lease_expires_at_ms == 2_501


def test_a_lock_is_lost_once() -> None:
    """The first _lose() reports the change (so it is told once); lost stays true."""
    lock = Lock("ns#k", "me", fence=7, lease_expires_at_ms=1_000)
    assert not lock.lost
    assert lock._lose() is True
    assert lock._lose() is False
    assert lock.lost


def test_locks_compare_by_key_owner_and_fence() -> None:
    """Two handles of one claim are equal and hash alike, whatever their lease now."""
    a = Lock("ns#k", "me", fence=7, lease_expires_at_ms=1_000, attempt=2)
    b = Lock("ns#k", "me", fence=7, lease_expires_at_ms=9_000, attempt=2)
    assert a == b
    assert hash(a) == hash(b)
    assert a != Lock("ns#k", "me", fence=8, lease_expires_at_ms=1_000)
    assert repr(a) == (
        "Lock(key='ns#k', owner='me', fence=7, lease_expires_at_ms=1000, attempt=2, lost=False)"
    )


def test_no_lock_is_current_outside_a_body() -> None:
    """current_lock() is None where no idempotent body runs."""
    assert current_lock() is None


def test_owner_tokens_are_fresh_128_bit_hex() -> None:
    """Each token is 32 hex digits, and no two are the same."""
    tokens = {new_owner_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(token) == 32 and int(token, 16) >= 0 for token in tokens)


def test_the_lambda_grace_is_public() -> None:
    """The grace a Lambda lease gets past the invocation's deadline, as doctor reads it."""
    assert LAMBDA_LEASE_GRACE_MS == 2_000
