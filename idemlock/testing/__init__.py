"""Test doubles for code that uses idemlock: supported public API, held to the same contract.

- :class:`MemoryStore` keeps lock items in a dict with the exact semantics of
  :class:`~idemlock.DynamoDBStore` (it passes the same contract suite), atomically under a lock.
- :class:`ManualClock` is a clock you move by hand, for leases and retention in tests.
- :class:`LambdaContext` stands in for the Lambda context object, so leases follow
  ``get_remaining_time_in_millis()`` as they do in Lambda.

::

    from idemlock import idempotent
    from idemlock.testing import ManualClock, MemoryStore

    store, clock = MemoryStore(), ManualClock()

    @idempotent(lambda event, context: event["id"], store=store, clock=clock, lease=30)
    def handler(event, context): ...
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from idemlock.dynamodb import RESULT_LIMIT_BYTES, DynamoDBStore
from idemlock.errors import StoreError
from idemlock.item import LockItem, LockStatus
from idemlock.store import Claim, ClaimResult, CompleteRequest, ReleaseRequest

__all__ = ["LambdaContext", "ManualClock", "MemoryStore"]


class MemoryStore:
    """An in-process :class:`~idemlock.store.LockStore`; ``calls`` counts requests by operation."""

    max_result_bytes: Final = RESULT_LIMIT_BYTES
    """DynamoDB's limit: a test double that stored more would pass what production refuses."""

    @staticmethod
    def stored_result_bytes(result: str) -> int:
        """What DynamoDB would store for ``result`` (compressed when that pays): the same limit."""
        return DynamoDBStore.stored_result_bytes(result)

    def __init__(self) -> None:
        self._items: dict[str, LockItem] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._items)} items)"

    def claim(self, claim: Claim) -> ClaimResult:
        """Take the key if it is free at ``claim.now_ms``; else return the item holding it."""
        with self._lock:
            self.calls["claim"] += 1
            return self._claim(claim)

    def _claim(self, claim: Claim) -> ClaimResult:
        old = self._items.get(claim.key)
        if not claim.takes(old):
            return ClaimResult(acquired=False, item=old)
        # An IN_PROGRESS item's steps are kept (a COMPLETED one has none).
        new = claim.written() if old is None else claim.written(old.fence, old.attempts, old.steps)
        self._items[claim.key] = new
        replaced = None if old is None or old.released_at_ms is not None else old.status
        return ClaimResult(acquired=True, item=new, replaced=replaced)

    def complete(
        self,
        key: str,
        owner: str,
        *,
        now_ms: int,
        result: str | None,
        expires_at_s: int | None,
    ) -> bool:
        """Mark ``key`` completed if ``owner`` holds it."""
        with self._lock:
            self.calls["complete"] += 1
            return self._complete(CompleteRequest(key, owner, now_ms, result, expires_at_s))

    def resolve(
        self,
        key: str,
        owner: str,
        *,
        operator: str,
        now_ms: int,
        result: str | None,
        expires_at_s: int | None,
    ) -> bool:
        """Complete ``owner``'s ``IN_PROGRESS`` claim in ``operator``'s name."""
        with self._lock:
            self.calls["resolve"] += 1
            old = self._items.get(key)
            if old is None or old.status is not LockStatus.IN_PROGRESS:
                return False
            return self._complete(
                CompleteRequest(key, owner, now_ms, result, expires_at_s), new_owner=operator
            )

    def _complete(self, complete: CompleteRequest, *, new_owner: str | None = None) -> bool:
        old = self._items.get(complete.key)
        if old is None or old.owner != complete.owner:
            return False
        self._items[complete.key] = old._replace(
            owner=complete.owner if new_owner is None else new_owner,
            status=LockStatus.COMPLETED,
            lease_expires_at_ms=None,
            completed_at_ms=complete.now_ms,
            expires_at_s=complete.expires_at_s,
            result=complete.result,
            outcome_unknown_at_ms=None,
            steps=(),
            released_at_ms=None,
        )
        return True

    def release(self, key: str, owner: str) -> bool:
        """Delete ``key`` if ``owner`` holds it; an absent key counts as released."""
        with self._lock:
            self.calls["release"] += 1
            return self._release(ReleaseRequest(key, owner))

    def _release(self, release: ReleaseRequest) -> bool:
        old = self._items.get(release.key)
        if old is not None and old.owner != release.owner:
            return False
        self._items.pop(release.key, None)
        return True

    # -- batches (idemlock.store.BatchWrites): one request each, counted as one call -----

    batch_limit: Final = 25
    """As many entries per call as DynamoDB's BatchExecuteStatement takes."""
    writes_in_batches: bool = True

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | StoreError]:
        """:meth:`claim` for each claim, in one call."""
        with self._lock:
            self.calls["claim_many"] += 1
            return [self._claim(claim) for claim in _distinct(claims, self.batch_limit)]

    def complete_many(self, completes: Sequence[CompleteRequest]) -> list[bool | StoreError]:
        """:meth:`complete` for each complete, in one call."""
        with self._lock:
            self.calls["complete_many"] += 1
            return [self._complete(each) for each in _distinct(completes, self.batch_limit)]

    def release_many(self, releases: Sequence[ReleaseRequest]) -> list[bool | StoreError]:
        """:meth:`release` for each release, in one call."""
        with self._lock:
            self.calls["release_many"] += 1
            return [self._release(each) for each in _distinct(releases, self.batch_limit)]

    def extend(
        self, key: str, owner: str, *, lease_expires_at_ms: int, expires_at_s: int
    ) -> int | None:
        """Move ``owner``'s lease on an ``IN_PROGRESS`` key forward; the lease it holds then."""
        with self._lock:
            self.calls["extend"] += 1
            old = self._items.get(key)
            if old is None or old.owner != owner or old.status is not LockStatus.IN_PROGRESS:
                return None
            held = old.lease_expires_at_ms
            if held is not None and held >= lease_expires_at_ms:
                return held  # never back: a later lease is already stored
            self._items[key] = old._replace(
                lease_expires_at_ms=lease_expires_at_ms, expires_at_s=expires_at_s
            )
            return lease_expires_at_ms

    def mark_unknown(self, key: str, owner: str, *, now_ms: int) -> bool:
        """Mark ``owner``'s lapsed ``IN_PROGRESS`` item: its outcome is unknown."""
        with self._lock:
            self.calls["mark_unknown"] += 1
            old = self._items.get(key)
            if (
                old is None
                or old.owner != owner
                or old.status is not LockStatus.IN_PROGRESS
                or old.lease_expires_at_ms is None
                or old.lease_expires_at_ms >= now_ms
                or old.outcome_unknown_at_ms is not None
                or old.released_at_ms is not None
            ):
                return False
            self._items[key] = old._replace(outcome_unknown_at_ms=now_ms)
            return True

    def record_steps(
        self, key: str, owner: str, *, fence: int, steps: tuple[tuple[str, str], ...]
    ) -> bool:
        """Store ``steps`` on ``owner``'s ``IN_PROGRESS`` claim with ``fence``."""
        with self._lock:
            self.calls["record_steps"] += 1
            old = self._items.get(key)
            if (
                old is None
                or (old.owner, old.fence) != (owner, fence)
                or old.status is not LockStatus.IN_PROGRESS
            ):
                return False
            self._items[key] = old._replace(steps=steps)
            return True

    def free(self, key: str, owner: str, *, now_ms: int) -> bool:
        """Free ``owner``'s claim, keeping its steps; an absent key counts as freed."""
        with self._lock:
            self.calls["free"] += 1
            old = self._items.get(key)
            if old is None:
                return True
            if old.owner != owner or old.status is not LockStatus.IN_PROGRESS:
                return False
            self._items[key] = old._replace(
                released_at_ms=now_ms, lease_expires_at_ms=0, outcome_unknown_at_ms=None
            )
            return True

    def delete(self, key: str, *, expected: LockItem | None = None) -> bool:
        """Delete ``key`` if it is still ``expected`` (status, owner, fence), or at all."""
        with self._lock:
            self.calls["delete"] += 1
            old = self._items.get(key)
            if old is None:
                return False
            if expected is not None and (old.status, old.owner, old.fence) != (
                expected.status,
                expected.owner,
                expected.fence,
            ):
                return False
            del self._items[key]
            return True

    def get(self, key: str) -> LockItem | None:
        """The item for ``key``, if any."""
        with self._lock:
            self.calls["get"] += 1
            return self._items.get(key)

    def scan(
        self, *, prefix: str | None = None, page_size: int | None = None
    ) -> Iterator[LockItem]:
        """Every item (whose key starts with ``prefix``), from a snapshot (one page)."""
        with self._lock:
            self.calls["scan"] += 1
            snapshot = list(self._items.values())
        return iter([r for r in snapshot if prefix is None or r.key.startswith(prefix)])

    def clear(self) -> None:
        """Forget every item and reset the call counts."""
        with self._lock:
            self._items.clear()
            self.calls.clear()


_Entry = TypeVar("_Entry", Claim, CompleteRequest, ReleaseRequest)


def _distinct(entries: Sequence[_Entry], limit: int) -> Sequence[_Entry]:
    """``entries``, refused as DynamoDB refuses such a request (a ValidationException there).

    More than ``limit`` of them, or a key twice: :class:`StoreError`.
    """
    if len(entries) > limit:
        raise StoreError(
            f"at most {limit} entries per batch call, got {len(entries)}", operation="batch"
        )
    if len({entry.key for entry in entries}) != len(entries):
        raise StoreError("the entries of one batch call must name distinct keys", operation="batch")
    return entries


class ManualClock:
    """A clock that stands still until moved: pass it as ``clock=`` (it returns epoch seconds)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current time in epoch seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        with self._lock:
            self._now += seconds


@dataclass
class LambdaContext:
    """A minimal stand-in for the Lambda context: the fields idemlock and most handlers read."""

    remaining_ms: int = 30_000
    function_name: str = "test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    invoked_function_arn: str = field(
        default="arn:aws:lambda:us-east-1:123456789012:function:test-function"
    )
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    """Read by Powertools Logger's ``inject_lambda_context``, among others."""
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/01/01/[$LATEST]00000000000000000000000000000000"

    def get_remaining_time_in_millis(self) -> int:
        """What Lambda reports: milliseconds left before the invocation times out."""
        return self.remaining_ms
