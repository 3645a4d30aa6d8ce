"""Unit tests for :mod:`idemlock.item`: when a lock item is free, and its time accessors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from idemlock import Lock
from idemlock.item import LockItem, LockStatus

LEASE_MS = 1_800_000_000_000
EXPIRES_S = 1_800_000_600


def _in_progress(lease_expires_at_ms: int | None = LEASE_MS) -> LockItem:
    return LockItem(
        key="orders#1",
        status=LockStatus.IN_PROGRESS,
        owner="owner-a",
        fence=1,
        claimed_at_ms=LEASE_MS - 30_000,
        lease_expires_at_ms=lease_expires_at_ms,
        expires_at_s=EXPIRES_S,
    )


def _completed(expires_at_s: int | None = EXPIRES_S) -> LockItem:
    return LockItem(
        key="orders#1",
        status=LockStatus.COMPLETED,
        owner="owner-a",
        fence=1,
        claimed_at_ms=LEASE_MS - 30_000,
        expires_at_s=expires_at_s,
        completed_at_ms=LEASE_MS - 10_000,
        result='{"ok": true}',
    )


@pytest.mark.parametrize(
    ("now_ms", "free"),
    [(LEASE_MS - 1, False), (LEASE_MS, False), (LEASE_MS + 1, True), (LEASE_MS + 60_000, True)],
    ids=["before", "at-lease-end", "just-after", "long-after"],
)
def test_in_progress_is_free_strictly_after_lease(now_ms: int, free: bool) -> None:
    """An in-progress key is free only once ``lease_expires_at_ms < now_ms``."""
    assert _in_progress().is_free_at(now_ms) is free


@pytest.mark.parametrize(
    ("now_ms", "free"),
    [
        (EXPIRES_S * 1000 - 1, False),
        (EXPIRES_S * 1000, True),
        (EXPIRES_S * 1000 + 1, True),
    ],
    ids=["before", "at-expiry", "after"],
)
def test_completed_is_free_once_retention_ends(now_ms: int, free: bool) -> None:
    """A completed key is free once ``expires_at_s * 1000 <= now_ms``."""
    assert _completed().is_free_at(now_ms) is free


def test_completed_without_expiry_is_never_free() -> None:
    """A completed key with ``expires_at_s=None`` is never free."""
    record = _completed(expires_at_s=None)
    assert record.is_free_at(LEASE_MS) is False
    assert record.is_free_at(10**18) is False


def test_completed_is_not_freed_by_a_past_lease() -> None:
    """A completed key's freedom depends on its retention, not on any lease."""
    assert _completed().is_free_at(LEASE_MS + 1) is False


def _assert_aware_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


def test_lease_expires_at_is_aware_utc_datetime() -> None:
    """``lease_expires_at`` is the lease end as an aware UTC datetime, to the millisecond."""
    record = _in_progress(lease_expires_at_ms=1_800_000_000_123)
    _assert_aware_utc(record.lease_expires_at)
    assert record.lease_expires_at == datetime(2027, 1, 15, 8, 0, 0, 123_000, tzinfo=timezone.utc)


def test_lease_expires_at_is_none_without_lease() -> None:
    """A completed record has no lease: ``lease_expires_at`` is None."""
    assert _completed().lease_expires_at is None


def test_claimed_at_is_aware_utc_datetime() -> None:
    """``claimed_at`` is the claim time as an aware UTC datetime, to the millisecond."""
    record = LockItem(
        key="k", status=LockStatus.IN_PROGRESS, owner="o", fence=1, claimed_at_ms=1_800_000_000_456
    )
    _assert_aware_utc(record.claimed_at)
    assert record.claimed_at == datetime(2027, 1, 15, 8, 0, 0, 456_000, tzinfo=timezone.utc)


def test_status_values_are_the_stored_strings() -> None:
    """Status members have the string values stored in the table, and parse back from them."""
    assert LockStatus.IN_PROGRESS.value == "IN_PROGRESS"
    assert LockStatus.COMPLETED.value == "COMPLETED"
    assert {status.value for status in LockStatus} == {"IN_PROGRESS", "COMPLETED"}
    assert LockStatus("IN_PROGRESS") is LockStatus.IN_PROGRESS
    assert LockStatus("COMPLETED") is LockStatus.COMPLETED
    assert LockStatus.IN_PROGRESS == "IN_PROGRESS"


def test_records_and_locks_are_immutable() -> None:
    """Values handed to callers cannot be changed in place; _replace makes a changed copy."""
    record = LockItem(key="k", status=LockStatus.IN_PROGRESS, owner="o", fence=1, claimed_at_ms=0)
    lock = Lock(key="k", owner="o", fence=1, lease_expires_at_ms=5)
    with pytest.raises(AttributeError):
        record.status = LockStatus.COMPLETED  # type: ignore[misc]
    with pytest.raises(AttributeError):
        lock.fence = 2  # type: ignore[misc]
    completed = record._replace(status=LockStatus.COMPLETED)
    assert (record.status, completed.status) == (LockStatus.IN_PROGRESS, LockStatus.COMPLETED)
