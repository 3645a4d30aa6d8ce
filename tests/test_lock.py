"""The protocol's failure paths, with faults injected into a MemoryStore.

Store-agnostic behaviour: how the protocol (``_protocol``) reacts to what a store reports. The
same reactions on a real server are in ``test_dynamodb.py`` (lost responses through a proxy).
"""

from __future__ import annotations

import logging

import pytest

from idemlock import _protocol, idempotent
from idemlock._options import validate
from idemlock._policy import FenceBase, Policy
from idemlock.errors import StoreError
from idemlock.item import LockStatus
from idemlock.store import Claim, ClaimResult
from idemlock.testing import LambdaContext, ManualClock, MemoryStore


class RetriedClaimStore(MemoryStore):
    """Applies each claim, then answers with a second attempt's result, as a botocore retry
    after a lost response would."""

    def claim(self, claim: Claim) -> ClaimResult:
        super().claim(claim)
        return super().claim(claim)


class VanishingStore(MemoryStore):
    """The first claim reports a failed condition with no record (the holder just released)."""

    def __init__(self) -> None:
        super().__init__()
        self.vanished = 0

    def claim(self, claim: Claim) -> ClaimResult:
        if not self.vanished:
            self.vanished += 1
            return ClaimResult(acquired=False, item=None)
        return super().claim(claim)


class FailingCompleteStore(MemoryStore):
    """complete raises StoreError ``failures`` times before it works."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def complete(
        self, key: str, owner: str, *, now_ms: int, result: str | None, expires_at_s: int | None
    ) -> bool:
        if self.failures:
            self.failures -= 1
            raise StoreError("throttled", operation="complete", key=key)
        return super().complete(key, owner, now_ms=now_ms, result=result, expires_at_s=expires_at_s)


class FailingReleaseStore(MemoryStore):
    """release always raises StoreError."""

    def release(self, key: str, owner: str) -> bool:
        raise StoreError("network down", operation="release", key=key)


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_protocol, "COMPLETE_BACKOFF_S", (0.0, 0.0))


def test_a_retried_claim_that_finds_its_own_item_proceeds() -> None:
    """The retry of an applied claim is refused by our own item: we still own it and run."""
    store = RetriedClaimStore()
    runs: list[str] = []
    handler = idempotent(lambda key: key, store=store, namespace="ns")(runs.append)

    handler("k")

    assert runs == ["k"]
    record = store.get("ns#k")
    assert record is not None
    assert record.status is LockStatus.COMPLETED


def test_a_claim_that_raced_a_release_claims_again() -> None:
    """A failed claim whose item is gone by the time it is read is simply retried."""
    store = VanishingStore()
    runs: list[str] = []
    handler = idempotent(lambda key: key, store=store)(runs.append)

    handler("k")

    assert runs == ["k"]
    assert store.calls["claim"] == 1  # the vanished attempt is not counted by MemoryStore


def test_complete_is_retried_after_a_store_error() -> None:
    """A transient failure to complete is retried; the caller gets the result."""
    store = FailingCompleteStore(failures=2)
    handler = idempotent(lambda key: key, store=store, namespace="ns")(lambda key: "value")

    assert handler("k") == "value"
    record = store.get("ns#k")
    assert record is not None
    assert record.status is LockStatus.COMPLETED


def test_complete_that_keeps_failing_raises_and_stays_lease_bounded() -> None:
    """After the last attempt, StoreError names the key; the item stays IN_PROGRESS until its
    lease ends, then the next delivery runs again."""
    clock = ManualClock()
    store = FailingCompleteStore(failures=3)
    runs: list[str] = []

    @idempotent(lambda key: key, store=store, namespace="ns", clock=clock, lease=30)
    def handler(key: str) -> str:
        runs.append(key)
        return "value"

    with pytest.raises(StoreError) as caught:
        handler("k")
    assert caught.value.key == "ns#k"
    record = store.get("ns#k")
    assert record is not None
    assert record.status is LockStatus.IN_PROGRESS
    assert record.lease_expires_at_ms == int(clock() * 1000) + 30_000

    clock.advance(31)
    assert handler("k") == "value"
    assert runs == ["k", "k"]


def test_a_failed_release_keeps_the_bodys_error_on_top(caplog: pytest.LogCaptureFixture) -> None:
    """If the release fails, the body's own exception is still what the caller sees."""
    store = FailingReleaseStore()
    failure = LookupError("body failed")

    @idempotent(lambda key: key, store=store)
    def handler(key: str) -> None:
        raise failure

    with caplog.at_level(logging.WARNING, logger="idemlock"), pytest.raises(LookupError) as caught:
        handler("k")
    assert caught.value is failure
    assert "frees itself when its lease ends" in caplog.text


def test_base_exceptions_in_the_body_release_the_key() -> None:
    """KeyboardInterrupt (or a cancelled task) releases the key too, and propagates."""
    store = MemoryStore()

    @idempotent(lambda key: key, store=store, namespace="ns")
    def handler(key: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        handler("k")
    assert store.get("ns#k") is None


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
