"""``LockStoreContract``: the behaviour every lock store must have, as a test suite to subclass.

A store -- idemlock's own, or a third party's (Redis, Postgres, an in-house wrapper) -- proves
that the claim steps can rely on it by passing this suite in its own tests::

    from idemlock.testing.contract import LockStoreContract

    class TestMyStore(LockStoreContract):
        def make_store(self):
            return MyStore()

pytest collects every ``test_*`` method of the subclass: free states and their boundaries,
owner-conditioned complete, release and extend, fences, a lost claim response recognised by its
owner, retention, replayed results, operator deletes and scans, end to end through
``@idempotent`` and call by call; for a store with batch writes, that each batch call answers as
the single calls do (:mod:`idemlock.testing.batch_contract`). ``make_store()`` is called once per
test; keys are namespaced per test, so one table may serve them all. Override
:meth:`round_trips` to also check the round trips each call costs. This module imports pytest and
hypothesis: import it from tests only.
"""

from __future__ import annotations

import math
import os
import random
import re
import string
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from idemlock._decorator import idempotent
from idemlock._results import unstored_reason
from idemlock.errors import (
    InProgressError,
    LockLostError,
    PayloadMismatchError,
    ResultNotStoredError,
    UnstorableResultError,
)
from idemlock.item import LockStatus
from idemlock.keys import MAX_KEY_BYTES
from idemlock.lock import Lock, current_lock
from idemlock.store import Claim, LockStore
from idemlock.testing import LambdaContext, ManualClock
from idemlock.testing.batch_contract import BatchWritesContract

__all__ = ["Body", "LockStoreContract", "claim_with_1s_lease", "key_of", "stored_key"]

Event = dict[str, Any]


def key_of(event: Event, context: object = None) -> str:
    """The key function of the contract's handlers: the event's ``id``."""
    return str(event["id"])


class Body:
    """A handler body that records its runs (and locks) and returns what it is told.

    With ``result``, every call returns ``result()``. Without, the first argument (the event)
    may carry ``result`` (returned), ``raise`` (raised) and ``hook`` (called first).
    """

    def __init__(self, result: Callable[[], object] | None = None) -> None:
        self.result = result
        self.runs: list[Any] = []
        self.locks: list[Lock | None] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run once: record the event and the lock held, then answer."""
        event = args[0] if args else None
        self.runs.append(event)
        self.locks.append(current_lock())
        if self.result is not None:
            return self.result()
        if not isinstance(event, dict):
            return None
        hook: Callable[[], Any] | None = event.get("hook")
        if hook is not None:
            hook()
        if "raise" in event:
            raise event["raise"]
        return event.get("result")


def incompressible(length: int) -> str:
    """``length`` characters of seeded random text: over any item limit even when a store
    compresses results (zlib leaves it at about 80 %); JSON escapes none of them.
    """
    rng = random.Random(length)
    alphabet = string.ascii_letters + string.digits + "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"
    return "".join(rng.choices(alphabet, k=length))


def stored_key(namespace: str, key: str) -> str:
    """A key as ``@idempotent`` stores it (short keys)."""
    return f"{namespace}#{key}"


def claim_with_1s_lease(key: str, owner: str, now_ms: int, fingerprint: str | None = None) -> Claim:
    """A store-level claim of ``key`` at ``now_ms`` whose lease ends a second later."""
    return Claim(
        key=key,
        owner=owner,
        now_ms=now_ms,
        fence_base=now_ms * 1000,
        lease_expires_at_ms=now_ms + 1000,
        expires_at_s=now_ms // 1000 + 3600,
        fingerprint=fingerprint,
    )


class LockStoreContract(BatchWritesContract):
    """Subclass with ``make_store()`` (and a name starting ``Test``) to run the contract."""

    returns_old_item: bool = True
    """Whether a refused claim returns the item in the same call (DynamoDB's ALL_OLD); a store
    that must read it after (dynalite) sets ``False``: a duplicate then costs two round trips."""

    def make_store(self) -> LockStore:
        """A store to test; called once per test."""
        raise NotImplementedError("a LockStoreContract subclass defines make_store()")

    def round_trips(self) -> int | None:
        """Requests sent to the backend since the store was made (or the last reset).

        ``None`` (the default): not counted, and the contract checks no round trips.
        """
        return None

    def reset_round_trips(self) -> None:
        """Count round trips from zero again (when :meth:`round_trips` counts)."""

    @pytest.fixture(autouse=True)
    def _contract_state(self) -> None:
        self.clock = ManualClock(start=1_800_000_000.0)
        self.namespace = f"contract-{uuid.uuid4().hex[:12]}"
        self._store: LockStore | None = None

    @property
    def store(self) -> LockStore:
        """The store under test, made on first use (after every fixture of the subclass ran)."""
        if self._store is None:
            self._store = self.make_store()
        return self._store

    def assert_round_trips(self, expected: int) -> None:
        """The round trips counted since the last reset are ``expected``, where counted."""
        seen = self.round_trips()
        if seen is not None:
            assert seen == expected

    # -- end to end: through @idempotent ---------------------------------------------------------

    def test_first_call_claims_runs_and_completes(self) -> None:
        """One claim, the body, one complete: 2 round trips, the item COMPLETED with the result."""
        body = Body()
        handler = idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock)(
            body
        )

        assert handler({"id": "order-1", "result": {"charged": 10}}) == {"charged": 10}

        self.assert_round_trips(2)
        assert len(body.runs) == 1
        item = self.store.get(stored_key(self.namespace, "order-1"))
        assert item is not None
        assert item.status is LockStatus.COMPLETED
        assert item.result == '{"charged":10}'
        assert item.lease_expires_at_ms is None

    @pytest.mark.parametrize(
        "result", [0, "", [], {}, False, None, 0.5, "ünïcødé", {"a": [1, None, True, "x"]}]
    )
    def test_duplicate_replays_the_stored_result_exactly(self, result: object) -> None:
        """A completed key returns its stored result, falsy ones included, without running."""
        body = Body()
        handler = idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock)(
            body
        )
        handler({"id": "k", "result": result})
        self.reset_round_trips()

        replayed = handler({"id": "k", "result": "something else"})

        assert replayed == result
        assert type(replayed) is type(result)
        assert len(body.runs) == 1
        # One conditional write that brings the item back; dynalite ignores ALL_OLD: + one GetItem.
        self.assert_round_trips(1 if self.returns_old_item else 2)

    def test_duplicate_while_in_progress_raises_in_progress(self) -> None:
        """A second invocation inside the holder's lease gets InProgressError and does not run."""
        body = Body()
        handler = idempotent(
            key_of, store=self.store, namespace=self.namespace, clock=self.clock, lease=60
        )(body)
        seen: list[InProgressError] = []
        trips: list[int | None] = []

        def duplicate() -> None:
            self.reset_round_trips()
            with pytest.raises(InProgressError) as caught:
                handler({"id": "k"})
            trips.append(self.round_trips())
            seen.append(caught.value)

        handler({"id": "k", "hook": duplicate, "result": "done"})

        assert len(body.runs) == 1
        assert seen[0].key == stored_key(self.namespace, "k")
        assert seen[0].lease_expires_at_ms == int(self.clock() * 1000) + 60_000
        assert seen[0].lease_expires_at.timestamp() == pytest.approx(self.clock() + 60)
        if trips[0] is not None:  # where the subclass counts round trips
            assert trips == [1 if self.returns_old_item else 2]

    def test_expired_lease_is_taken_over_and_the_stale_owner_is_refused(self) -> None:
        """Past the lease the next call runs; the stale owner's complete raises LockLostError."""
        body = Body()
        handler = idempotent(
            key_of, store=self.store, namespace=self.namespace, clock=self.clock, lease=30
        )(body)
        takeover_result: list[object] = []

        def takeover() -> None:
            self.clock.advance(31)
            takeover_result.append(handler({"id": "k", "result": "new owner"}))

        with pytest.raises(LockLostError) as caught:
            handler({"id": "k", "hook": takeover, "result": "stale owner"})

        assert takeover_result == ["new owner"]
        assert len(body.runs) == 2
        stale, new = body.locks
        assert stale is not None
        assert new is not None
        assert caught.value.owner == stale.owner
        item = self.store.get(stored_key(self.namespace, "k"))
        assert item is not None
        assert (item.status, item.owner, item.result) == (
            LockStatus.COMPLETED,
            new.owner,
            '"new owner"',
        )
        assert new.fence > stale.fence

    def test_stale_owner_cannot_release_the_new_owners_item(self) -> None:
        """A failing stale owner re-raises its error and leaves the new owner's item alone."""
        body = Body()
        handler = idempotent(
            key_of, store=self.store, namespace=self.namespace, clock=self.clock, lease=30
        )(body)
        failure = RuntimeError("stale owner failed")

        def takeover() -> None:
            self.clock.advance(31)
            handler({"id": "k", "result": "new owner"})

        with pytest.raises(RuntimeError) as caught:
            handler({"id": "k", "hook": takeover, "raise": failure})

        assert caught.value is failure
        item = self.store.get(stored_key(self.namespace, "k"))
        assert item is not None
        assert item.result == '"new owner"'

    def test_store_refuses_complete_and_release_by_a_stale_owner(self) -> None:
        """Store level: after a takeover, the old owner's complete and release return False."""
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)

        first = self.store.claim(claim_with_1s_lease(key, "old", now))
        second = self.store.claim(claim_with_1s_lease(key, "new", now + 1001))

        assert first.acquired
        assert second.acquired
        assert not self.store.complete(key, "old", now_ms=now + 1002, result="1", expires_at_s=None)
        assert not self.store.release(key, "old")
        item = self.store.get(key)
        assert item is not None
        assert (item.owner, item.status, item.attempts) == ("new", LockStatus.IN_PROGRESS, 2)
        assert first.item is not None
        assert second.item is not None
        assert second.item.fence == first.item.fence + 1
        # What each claim wrote over: nothing, then the first owner's expired claim.
        assert (first.replaced, second.replaced) == (None, LockStatus.IN_PROGRESS)

    def test_a_claim_after_the_retention_replaced_a_completion(self) -> None:
        """Store level: a key claimed again once its retention is over says it replaced a
        COMPLETED item (a fresh start, not a takeover), and its item is the one stored.
        """
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        first = self.store.claim(claim_with_1s_lease(key, "old", now))
        assert first.acquired
        assert self.store.complete(
            key, "old", now_ms=now + 10, result="1", expires_at_s=now // 1000 + 1
        )

        again = self.store.claim(claim_with_1s_lease(key, "new", now + 2_000))

        assert again.acquired
        assert again.replaced is LockStatus.COMPLETED
        assert again.item == self.store.get(key)
        assert again.item is not None
        assert (again.item.attempts, again.item.result) == (2, None)

    def test_extend_moves_only_the_owners_lease_and_keeps_the_fence(self) -> None:
        """extend(): the owner's IN_PROGRESS lease and TTL move; a stranger or completed key:
        False.
        """
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        claimed = self.store.claim(claim_with_1s_lease(key, "me", now)).item
        assert claimed is not None

        assert (
            self.store.extend(key, "stranger", lease_expires_at_ms=now + 9000, expires_at_s=9)
            is None
        )
        assert (
            self.store.extend(
                key, "me", lease_expires_at_ms=now + 5000, expires_at_s=now // 1000 + 7200
            )
            == now + 5000
        )
        item = self.store.get(key)
        assert item == claimed._replace(
            lease_expires_at_ms=now + 5000, expires_at_s=now // 1000 + 7200
        )
        # The extended lease holds: a claim after the first lease but within the new one is refused.
        assert not self.store.claim(claim_with_1s_lease(key, "other", now + 1001)).acquired
        # Never back: a shorter extension answers the longer lease it found, and changes nothing.
        assert (
            self.store.extend(key, "me", lease_expires_at_ms=now + 3000, expires_at_s=1)
            == now + 5000
        )
        assert self.store.get(key) == item

        assert self.store.complete(key, "me", now_ms=now + 2000, result="1", expires_at_s=None)
        assert self.store.extend(key, "me", lease_expires_at_ms=now + 9000, expires_at_s=9) is None
        assert not self.store.extend(
            stored_key(self.namespace, "absent"),
            "me",
            lease_expires_at_ms=now + 9000,
            expires_at_s=9,
        )

    def test_an_acquired_claims_item_is_the_stored_item(self) -> None:
        """The item a claim answers with equals the item read back, fresh and after a takeover."""
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        for owner, now_ms, fingerprint in (("first", now, None), ("second", now + 1001, "f" * 64)):
            result = self.store.claim(claim_with_1s_lease(key, owner, now_ms, fingerprint))
            item = result.item
            assert result.acquired
            assert item is not None
            assert item == self.store.get(key)
            assert (item.owner, item.fingerprint, item.attempts) == (
                owner,
                fingerprint,
                1 if owner == "first" else 2,
            )

    def test_body_failure_releases_and_reraises_the_same_exception(self) -> None:
        """The item is deleted (2 round trips), the exception object is re-raised, a retry runs."""
        body = Body()
        handler = idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock)(
            body
        )
        failure = ValueError("file is malformed")

        with pytest.raises(ValueError, match="malformed") as caught:
            handler({"id": "k", "raise": failure})

        assert caught.value is failure
        self.assert_round_trips(2)
        assert self.store.get(stored_key(self.namespace, "k")) is None
        assert handler({"id": "k", "result": "fixed"}) == "fixed"
        assert len(body.runs) == 2

    def test_fence_strictly_increases_across_failure_takeover_and_retention(self) -> None:
        """Fences grow after a failure (item deleted), a takeover and an expired retention."""
        body = Body()
        handler = idempotent(
            key_of,
            store=self.store,
            namespace=self.namespace,
            clock=self.clock,
            lease=10,
            retention=60,
        )(body)

        with pytest.raises(KeyError):
            handler(
                {"id": "k", "raise": KeyError("first attempt fails")}
            )  # the clock does not move

        def takeover() -> None:
            self.clock.advance(11)
            handler({"id": "k"})

        with pytest.raises(LockLostError):
            handler({"id": "k", "hook": takeover})
        self.clock.advance(61)
        handler({"id": "k"})

        fences = [lock.fence for lock in body.locks if lock is not None]
        assert len(fences) == 4
        assert fences == sorted(set(fences)), fences

    def test_current_lock_is_the_running_claim_and_none_outside(self) -> None:
        """Inside the body current_lock() names the stored key, our owner token and the fence."""
        body = Body()
        handler = idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock)(
            body
        )
        handler({"id": "k"})

        lock = body.locks[0]
        assert lock is not None
        item = self.store.get(stored_key(self.namespace, "k"))
        assert item is not None
        assert (lock.key, lock.owner, lock.fence) == (item.key, item.owner, item.fence)
        assert current_lock() is None

    def test_lease_follows_the_lambda_context(self) -> None:
        """With a Lambda context the lease is its remaining time plus 2 s; lease= overrides it."""
        seen: list[int] = []

        def body(event: Event, context: object) -> None:
            lock = current_lock()
            assert lock is not None
            seen.append(lock.lease_expires_at_ms)

        now_ms = int(self.clock() * 1000)
        idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock)(body)(
            {"id": "lambda"}, LambdaContext(remaining_ms=45_000)
        )
        idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock, lease=7.5)(
            body
        )({"id": "explicit"}, LambdaContext(remaining_ms=45_000))
        idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock)(body)(
            {"id": "default"}, None
        )

        assert seen == [now_ms + 47_000, now_ms + 7_500, now_ms + 300_000]

    def test_retention_window_then_the_key_runs_again(self) -> None:
        """Duplicates replay until retention ends (TTL attribute in epoch seconds), then run."""
        body = Body()
        handler = idempotent(
            key_of, store=self.store, namespace=self.namespace, clock=self.clock, retention=100
        )(body)
        handler({"id": "k", "result": 1})
        item = self.store.get(stored_key(self.namespace, "k"))
        assert item is not None
        assert item.expires_at_s == math.ceil(self.clock() + 100)

        self.clock.advance(99)
        assert handler({"id": "k", "result": 2}) == 1
        self.clock.advance(2)
        assert handler({"id": "k", "result": 3}) == 3
        assert len(body.runs) == 2

    def test_retention_none_keeps_the_key_forever(self) -> None:
        """With retention=None no expiry is stored and the key never runs again."""
        body = Body()
        handler = idempotent(
            key_of, store=self.store, namespace=self.namespace, clock=self.clock, retention=None
        )(body)
        handler({"id": "k", "result": "once"})
        item = self.store.get(stored_key(self.namespace, "k"))
        assert item is not None
        assert item.expires_at_s is None

        self.clock.advance(10 * 365 * 86400)
        assert handler({"id": "k", "result": "twice"}) == "once"
        assert len(body.runs) == 1

    def test_payload_fingerprint_mismatch(self) -> None:
        """Same key, same payload replays; same key, different payload raises
        PayloadMismatchError.
        """
        body = Body()
        handler = idempotent(
            key_of,
            store=self.store,
            namespace=self.namespace,
            clock=self.clock,
            fingerprint=lambda event, context=None: event["amount"],
        )(body)
        handler({"id": "k", "amount": 10, "result": "charged 10"})

        assert handler({"id": "k", "amount": 10}) == "charged 10"
        with pytest.raises(PayloadMismatchError) as caught:
            handler({"id": "k", "amount": 99})
        assert caught.value.key == stored_key(self.namespace, "k")
        assert len(body.runs) == 1

    @pytest.mark.parametrize(
        ("result", "reason"),
        [
            ({"not storable": object()}, r"result\['not storable'\] \(object\) has no stored form"),
            (incompressible(800 * 1024), "over the"),
        ],
    )
    def test_unstorable_result_completes_the_key_and_never_runs_twice(
        self, result: object, reason: str
    ) -> None:
        """A result without a stored form, or too large: the body ran, so the key completes
        without it (the reason in the item); the caller gets UnstorableResultError, a duplicate
        ResultNotStoredError, and the body never runs again.
        """
        body = Body()
        handler = idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock)(
            body
        )
        key = stored_key(self.namespace, "k")

        with pytest.raises(UnstorableResultError, match=reason) as caught:
            handler({"id": "k", "result": result})

        assert caught.value.key == key
        assert "ran" in str(caught.value)
        item = self.store.get(key)
        assert item is not None
        assert item.status is LockStatus.COMPLETED
        assert re.search(reason, unstored_reason(item.result) or "")
        with pytest.raises(ResultNotStoredError, match=reason) as duplicate:
            handler({"id": "k", "result": "small"})
        assert duplicate.value.key == key
        assert len(body.runs) == 1

    def test_unstorable_result_can_be_omitted(self) -> None:
        """With on_unstorable_result="omit" the key completes without a result (the reason in
        the item); the caller gets its result, duplicates get None.
        """
        body = Body()
        handler = idempotent(
            key_of,
            store=self.store,
            namespace=self.namespace,
            clock=self.clock,
            on_unstorable_result="omit",
        )(body)
        big = incompressible(800 * 1024)

        assert handler({"id": "k", "result": big}) == big
        assert handler({"id": "k", "result": "again"}) is None
        item = self.store.get(stored_key(self.namespace, "k"))
        assert item is not None
        assert item.status is LockStatus.COMPLETED
        assert "over the" in (unstored_reason(item.result) or "")
        assert len(body.runs) == 1

    def test_large_result_under_the_limit_round_trips(self) -> None:
        """A 390 KB result is stored and replayed intact."""
        body = Body()
        handler = idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock)(
            body
        )
        big = "y" * (390 * 1024)

        handler({"id": "k", "result": big})
        assert handler({"id": "k"}) == big

    def test_over_long_keys_are_hashed_and_stay_distinct(self) -> None:
        """Keys past 2048 bytes work: stored hashed under the limit, distinct keys stay distinct."""
        body = Body()
        handler = idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock)(
            body
        )
        long_a = "é" * 3000 + "a"
        long_b = "é" * 3000 + "b"

        assert handler({"id": long_a, "result": "a"}) == "a"
        assert handler({"id": long_b, "result": "b"}) == "b"
        assert handler({"id": long_a}) == "a"
        assert len(body.runs) == 2
        lock = body.locks[0]
        assert lock is not None
        assert len(lock.key.encode()) <= MAX_KEY_BYTES
        assert lock.key.startswith(f"{self.namespace}#éé")

    def test_operator_delete_is_conditioned_on_the_item_read(self) -> None:
        """delete(expected=item) refuses once the item changed; without expected it always
        works.
        """
        body = Body()
        handler = idempotent(key_of, store=self.store, namespace=self.namespace, clock=self.clock)(
            body
        )
        key = stored_key(self.namespace, "k")
        read_while_running: list[Any] = []
        handler({"id": "k", "hook": lambda: read_while_running.append(self.store.get(key))})

        assert not self.store.delete(key, expected=read_while_running[0])  # completed since
        current = self.store.get(key)
        assert current is not None
        assert self.store.delete(key, expected=current)
        assert self.store.get(key) is None
        assert not self.store.delete(key)

        handler({"id": "k"})
        assert self.store.delete(key)
        assert self.store.get(key) is None

    # -- store level: what the claim steps rely on, call by call ---------------------------------

    def test_a_lost_claim_response_is_recognised_by_its_owner(self) -> None:
        """The same claim sent twice (a retry after a lost response) is refused the second time
        with the item the first wrote: the owner token in it tells the caller the key is its own.
        """
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        first = self.store.claim(claim_with_1s_lease(key, "me", now))
        retried = self.store.claim(claim_with_1s_lease(key, "me", now))
        assert first.acquired
        assert not retried.acquired
        assert retried.item is not None
        assert retried.item == first.item

    def test_lease_and_retention_end_exactly_at_their_boundaries(self) -> None:
        """An IN_PROGRESS key is held through its last lease millisecond and free one after; a
        COMPLETED key is free from its retention second on and held one millisecond before.
        """
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        lease_end = now + 1000
        assert self.store.claim(claim_with_1s_lease(key, "a", now)).acquired
        assert not self.store.claim(claim_with_1s_lease(key, "b", lease_end)).acquired
        assert self.store.claim(claim_with_1s_lease(key, "b", lease_end + 1)).acquired
        expires_s = (lease_end + 1) // 1000 + 60
        assert self.store.complete(
            key, "b", now_ms=lease_end + 2, result="1", expires_at_s=expires_s
        )
        assert not self.store.claim(claim_with_1s_lease(key, "c", expires_s * 1000 - 1)).acquired
        assert self.store.claim(claim_with_1s_lease(key, "c", expires_s * 1000)).acquired

    def test_release_frees_only_the_owners_key(self) -> None:
        """release() by a stranger is refused and keeps the item; by the owner it deletes it;
        a key already gone counts as released.
        """
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        assert self.store.claim(claim_with_1s_lease(key, "me", now)).acquired
        assert not self.store.release(key, "stranger")
        assert self.store.get(key) is not None
        assert self.store.release(key, "me")
        assert self.store.get(key) is None
        assert self.store.release(key, "me")

    def test_complete_stores_the_result_for_its_owner_only(self) -> None:
        """complete() by a stranger is refused; by the owner it stores status, result, times."""
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        claimed = self.store.claim(claim_with_1s_lease(key, "me", now)).item
        assert claimed is not None
        assert not self.store.complete(key, "stranger", now_ms=now + 1, result="1", expires_at_s=9)
        assert self.store.complete(key, "me", now_ms=now + 2, result='"ok"', expires_at_s=None)
        item = self.store.get(key)
        assert item is not None
        assert (item.status, item.result, item.completed_at_ms) == (
            LockStatus.COMPLETED,
            '"ok"',
            now + 2,
        )
        assert (item.owner, item.fence, item.expires_at_s) == ("me", claimed.fence, None)

    def test_a_claim_without_takeover_leaves_a_lapsed_lease(self) -> None:
        """``take_over=False`` is refused by a lapsed IN_PROGRESS item (and returns it), but
        still takes an absent key and a COMPLETED one whose retention is over.
        """
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        assert self.store.claim(claim_with_1s_lease(key, "a", now)).acquired
        later = claim_with_1s_lease(key, "b", now + 5000)._replace(take_over=False)
        refused = self.store.claim(later)
        assert not refused.acquired
        assert refused.item is not None
        assert refused.item.owner == "a"
        assert self.store.complete(key, "a", now_ms=now + 1, result=None, expires_at_s=now // 1000)
        assert self.store.claim(later).acquired
        fresh = stored_key(self.namespace, "fresh")
        assert self.store.claim(later._replace(key=fresh)).acquired

    def test_mark_unknown_marks_a_lapsed_claim_that_no_claim_then_takes(self) -> None:
        """mark_unknown() marks only the owner's lapsed, unmarked claim; a marked item refuses
        every claim; its owner's complete clears the mark.
        """
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        assert self.store.claim(claim_with_1s_lease(key, "a", now)).acquired
        assert not self.store.mark_unknown(key, "a", now_ms=now + 1000)  # lease still live
        assert not self.store.mark_unknown(key, "stranger", now_ms=now + 5000)
        assert self.store.mark_unknown(key, "a", now_ms=now + 5000)
        assert not self.store.mark_unknown(key, "a", now_ms=now + 6000)  # marked already
        marked = self.store.get(key)
        assert marked is not None
        assert (marked.owner, marked.outcome_unknown_at_ms) == ("a", now + 5000)
        assert not marked.is_free_at(now + 9000)
        taken = self.store.claim(claim_with_1s_lease(key, "b", now + 9000))
        assert not taken.acquired
        assert taken.item == marked
        assert self.store.complete(key, "a", now_ms=now + 9001, result="1", expires_at_s=None)
        done = self.store.get(key)
        assert done is not None
        assert (done.status, done.outcome_unknown_at_ms) == (LockStatus.COMPLETED, None)

    def test_resolve_completes_a_claim_for_an_operator_its_owner_cannot_then_touch(
        self,
    ) -> None:
        """resolve() completes the owner's marked claim as complete() does, with the operator
        as owner; the first owner's late complete, release, free and steps are then refused and
        change nothing; a completed key or a stranger's is not resolved.
        """
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        claimed = self.store.claim(claim_with_1s_lease(key, "a", now)).item
        assert claimed is not None
        assert self.store.mark_unknown(key, "a", now_ms=now + 5000)

        def resolve(owner: str, operator: str) -> bool:
            return self.store.resolve(
                key,
                owner,
                operator=operator,
                now_ms=now + 6000,
                result='"by hand"',
                expires_at_s=None,
            )

        assert not resolve("stranger", "op")
        assert resolve("a", "op")
        resolved = self.store.get(key)
        assert resolved is not None
        assert (resolved.status, resolved.owner, resolved.result) == (
            LockStatus.COMPLETED,
            "op",
            '"by hand"',
        )
        assert (resolved.fence, resolved.outcome_unknown_at_ms) == (claimed.fence, None)
        assert not self.store.complete(key, "a", now_ms=now + 7000, result="1", expires_at_s=9)
        assert not self.store.release(key, "a")
        assert not self.store.free(key, "a", now_ms=now + 7000)
        assert not self.store.record_steps(key, "a", fence=claimed.fence, steps=(("s", "1"),))
        assert self.store.get(key) == resolved
        assert not resolve("op", "op2")  # completed: nothing to resolve

    def test_steps_are_kept_by_a_free_and_a_takeover_and_cleared_by_a_complete(self) -> None:
        """record_steps() only on the owner's claim with its fence; free() keeps them and frees
        the key (a fresh claim: replaced None); a takeover keeps them; a complete clears them.
        """
        key = stored_key(self.namespace, "k")
        now = int(self.clock() * 1000)
        first = self.store.claim(claim_with_1s_lease(key, "a", now)).item
        assert first is not None
        steps = (("charge", '"ch_1"'),)
        assert not self.store.record_steps(key, "b", fence=first.fence, steps=steps)
        assert not self.store.record_steps(key, "a", fence=first.fence + 1, steps=steps)
        assert self.store.record_steps(key, "a", fence=first.fence, steps=steps)
        assert not self.store.free(key, "stranger", now_ms=now + 1)
        assert self.store.free(key, "a", now_ms=now + 1)
        freed = self.store.get(key)
        assert freed is not None
        assert (freed.steps, freed.released_at_ms) == (steps, now + 1)
        again = self.store.claim(claim_with_1s_lease(key, "b", now + 2)._replace(take_over=False))
        assert again.acquired
        assert again.replaced is None
        assert again.item is not None
        assert again.item.steps == steps
        more = (*steps, ("email", "null"))
        assert self.store.record_steps(key, "b", fence=again.item.fence, steps=more)
        taken = self.store.claim(claim_with_1s_lease(key, "c", now + 5000))
        assert taken.acquired
        assert taken.replaced is LockStatus.IN_PROGRESS
        assert taken.item is not None
        assert taken.item.steps == more
        assert self.store.complete(key, "c", now_ms=now + 5001, result="1", expires_at_s=None)
        done = self.store.get(key)
        assert done is not None
        assert (done.steps, done.released_at_ms) == ((), None)
        assert self.store.free(stored_key(self.namespace, "gone"), "a", now_ms=now)
        marked = stored_key(self.namespace, "marked")
        assert self.store.claim(claim_with_1s_lease(marked, "a", now)).acquired
        assert self.store.mark_unknown(marked, "a", now_ms=now + 5000)
        assert self.store.free(marked, "a", now_ms=now + 5001)  # alive after all, and failed
        assert self.store.claim(claim_with_1s_lease(marked, "b", now + 5002)).acquired

    def test_scan_yields_every_item_and_filters_by_prefix(self) -> None:
        """scan() yields each item once, across pages; ``prefix`` keeps the keys that start so."""
        now = int(self.clock() * 1000)
        keys = [stored_key(self.namespace, f"k{i}") for i in range(5)]
        other = stored_key(f"{self.namespace}-other", "k")
        for key in (*keys, other):
            assert self.store.claim(claim_with_1s_lease(key, "me", now)).acquired
        scanned = [item.key for item in self.store.scan(prefix=f"{self.namespace}#", page_size=2)]
        assert sorted(scanned) == sorted(keys)
        assert other in {item.key for item in self.store.scan()}

    def test_fences_increase_across_any_sequence_of_claims(self) -> None:
        """Property: whatever the order of claims, completes and releases, each acquired claim
        of a key has a fence above every earlier one (the fence base is the caller's time).
        """
        from hypothesis import HealthCheck, given, settings  # noqa: PLC0415
        from hypothesis import strategies as st  # noqa: PLC0415

        steps = st.lists(st.sampled_from(["claim", "complete", "release", "wait"]), max_size=12)

        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
        @given(steps)
        def run(actions: list[str]) -> None:
            key = stored_key(self.namespace, os.urandom(8).hex())
            now, base, fences, owner = int(self.clock() * 1000), 0, [0], None
            for action in actions:
                now += 1
                if action == "wait":
                    now += 5000
                elif action == "claim":
                    base += 1  # the caller's strictly increasing time
                    claim = claim_with_1s_lease(key, os.urandom(4).hex(), now)
                    result = self.store.claim(claim._replace(fence_base=base, expires_at_s=1))
                    if result.acquired:
                        assert result.item is not None
                        assert result.item.fence > fences[-1]
                        fences.append(result.item.fence)
                        owner = claim.owner
                elif owner is not None and action == "complete":
                    self.store.complete(key, owner, now_ms=now, result=None, expires_at_s=1)
                elif owner is not None:
                    self.store.release(key, owner)

        run()
