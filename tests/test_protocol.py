"""The protocol's failure paths, with faults injected into a MemoryStore.

Store-agnostic behaviour: how the protocol (``_protocol``) reacts to what a store reports. The
same reactions on a real server are in ``test_dynamodb.py`` (lost responses through a proxy).
"""

from __future__ import annotations

import logging

import pytest

from idemlock import _protocol, idempotent
from idemlock.errors import StoreError
from idemlock.item import LockStatus
from idemlock.store import Claim, ClaimResult
from idemlock.testing import ManualClock, MemoryStore


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
