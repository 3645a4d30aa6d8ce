"""``Policy``: one decorated function's settings as the protocol reads them; fences and leases.

Units, with no store: the lease a call gets (from a Lambda context or ``lease=``), the policy's
immutability, and the fence base that orders claims of keys without an item.
"""

from __future__ import annotations

import pytest

from idemlock._options import validate
from idemlock._policy import FenceBase, Policy, ceil_s, in_progress_ttl_s
from idemlock.testing import LambdaContext, ManualClock


def test_fence_base_strictly_increases_even_when_time_stands_still() -> None:
    """Bases follow the clock, and step past the previous base when the clock does not move."""
    bases = FenceBase()
    assert [bases.next(1000), bases.next(1000), bases.next(999), bases.next(5000)] == [
        1000,
        1001,
        1002,
        5000,
    ]


def default_policy() -> Policy:
    return validate("@idempotent_records", None, {"retention": None, "clock": ManualClock()})


def test_a_policy_is_read_only() -> None:
    """The options of a decorated function cannot change under it once checked."""
    policy = default_policy()
    with pytest.raises(AttributeError):
        policy.lease_ms = 1  # type: ignore[misc]
    assert policy.lease_ms is None
    assert repr(policy).startswith("Policy(store=None, namespace='', clock_us=")
    assert "lease_ms=None, default_lease_ms=300000, retention_ms=None" in repr(policy)


def test_lease_from_a_context_passed_by_keyword() -> None:
    """A Lambda context passed as a keyword argument sets the lease too."""
    context = LambdaContext(remaining_ms=1_000)
    assert default_policy().lease_ms_for((), {"context": context}) == 3_000


def test_lease_is_the_grace_alone_when_the_context_has_no_time_left() -> None:
    """A context reporting 0 ms left or less gives the grace only; no context, the default."""
    policy = default_policy()
    assert policy.lease_ms_for(({}, LambdaContext(remaining_ms=0)), {}) == 2_000
    assert policy.lease_ms_for(({}, LambdaContext(remaining_ms=-5)), {}) == 2_000
    assert policy.lease_ms_for(({}, object()), {}) == 300_000


def test_ttl_arithmetic_rounds_up_to_whole_seconds() -> None:
    """Epoch milliseconds become TTL seconds rounded up, exactly at any size; an in-progress
    item's TTL is an hour after its lease."""
    assert [ceil_s(0), ceil_s(1), ceil_s(1000), ceil_s(1001)] == [0, 1, 1, 2]
    assert ceil_s(10**22 + 1) == 10**19 + 1
    assert in_progress_ttl_s(1_500) == 2 + 3600
