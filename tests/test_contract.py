"""The lock protocol, end to end through ``@idempotent``, on every store.

Each test runs on MemoryStore, DynamoDB Local and dynalite (see ``conftest.backend``). Round trips
are counted at the HTTP layer for DynamoDB and per store call for MemoryStore.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from idemlock import Lock, current_lock, idempotent
from idemlock.errors import (
    InProgressError,
    LockLostError,
    PayloadMismatchError,
    UnstorableResultError,
)
from idemlock.item import LockStatus
from idemlock.keys import MAX_KEY_BYTES
from idemlock.store import Claim
from idemlock.testing import LambdaContext, ManualClock
from tests.conftest import Backend

Event = dict[str, Any]


def key_of(event: Event, context: object = None) -> str:
    return str(event["id"])


class Body:
    """A handler body that records its runs and returns what the event asks for."""

    def __init__(self) -> None:
        self.runs: list[Event] = []
        self.locks: list[Lock | None] = []

    def __call__(self, event: Event, context: object = None) -> Any:
        self.runs.append(event)
        self.locks.append(current_lock())
        hook: Callable[[], Any] | None = event.get("hook")
        if hook is not None:
            hook()
        if "raise" in event:
            raise event["raise"]
        return event.get("result")


def stored_key(namespace: str, key: str) -> str:
    return f"{namespace}#{key}"


def test_first_call_claims_runs_and_completes(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """One claim, the body, one complete: 2 round trips, the item COMPLETED with the result."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock)(body)

    assert handler({"id": "order-1", "result": {"charged": 10}}) == {"charged": 10}

    assert backend.count() == 2
    assert len(body.runs) == 1
    record = backend.store.get(stored_key(namespace, "order-1"))
    assert record is not None
    assert record.status is LockStatus.COMPLETED
    assert record.result == '{"charged":10}'
    assert record.lease_expires_at_ms is None


@pytest.mark.parametrize(
    "result", [0, "", [], {}, False, None, 0.5, "ünïcødé", {"a": [1, None, True, "x"]}]
)
def test_duplicate_replays_the_stored_result_exactly(
    backend: Backend, clock: ManualClock, namespace: str, result: object
) -> None:
    """A completed key returns its stored result, falsy ones included, without running."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock)(body)
    handler({"id": "k", "result": result})
    backend.reset()

    replayed = handler({"id": "k", "result": "something else"})

    assert replayed == result
    assert type(replayed) is type(result)
    assert len(body.runs) == 1
    # One conditional write that brings the item back; dynalite ignores ALL_OLD: + one GetItem.
    assert backend.count() == (1 if backend.returns_old_item else 2)


def test_duplicate_while_in_progress_raises_in_progress(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """A second invocation inside the holder's lease gets InProgressError and does not run."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock, lease=60)(
        body
    )
    seen: list[InProgressError] = []
    trips: list[int] = []

    def duplicate() -> None:
        backend.reset()
        with pytest.raises(InProgressError) as caught:
            handler({"id": "k"})
        trips.append(backend.count())
        seen.append(caught.value)

    handler({"id": "k", "hook": duplicate, "result": "done"})

    assert len(body.runs) == 1
    assert seen[0].key == stored_key(namespace, "k")
    assert seen[0].lease_expires_at_ms == int(clock() * 1000) + 60_000
    assert seen[0].lease_expires_at.timestamp() == pytest.approx(clock() + 60)
    assert trips == [1 if backend.returns_old_item else 2]


def test_expired_lease_is_taken_over_and_the_stale_owner_is_refused(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """Past the lease the next call runs; the stale owner's complete raises LockLostError."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock, lease=30)(
        body
    )
    takeover_result: list[object] = []

    def takeover() -> None:
        clock.advance(31)
        takeover_result.append(handler({"id": "k", "result": "new owner"}))

    with pytest.raises(LockLostError) as caught:
        handler({"id": "k", "hook": takeover, "result": "stale owner"})

    assert takeover_result == ["new owner"]
    assert len(body.runs) == 2
    stale, new = body.locks
    assert stale is not None
    assert new is not None
    assert caught.value.owner == stale.owner
    record = backend.store.get(stored_key(namespace, "k"))
    assert record is not None
    assert (record.status, record.owner, record.result) == (
        LockStatus.COMPLETED,
        new.owner,
        '"new owner"',
    )
    assert new.fence > stale.fence


def test_stale_owner_cannot_release_the_new_owners_item(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """A failing stale owner re-raises its error and leaves the new owner's item alone."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock, lease=30)(
        body
    )
    failure = RuntimeError("stale owner failed")

    def takeover() -> None:
        clock.advance(31)
        handler({"id": "k", "result": "new owner"})

    with pytest.raises(RuntimeError) as caught:
        handler({"id": "k", "hook": takeover, "raise": failure})

    assert caught.value is failure
    record = backend.store.get(stored_key(namespace, "k"))
    assert record is not None
    assert record.result == '"new owner"'


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


def test_store_refuses_complete_and_release_by_a_stale_owner(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """Store level: after a takeover, the old owner's complete and release return False."""
    key = stored_key(namespace, "k")
    now = int(clock() * 1000)

    first = backend.store.claim(claim_with_1s_lease(key, "old", now))
    second = backend.store.claim(claim_with_1s_lease(key, "new", now + 1001))

    assert first.acquired
    assert second.acquired
    assert not backend.store.complete(key, "old", now_ms=now + 1002, result="1", expires_at_s=None)
    assert not backend.store.release(key, "old")
    record = backend.store.get(key)
    assert record is not None
    assert (record.owner, record.status, record.attempts) == ("new", LockStatus.IN_PROGRESS, 2)
    assert first.record is not None
    assert second.record is not None
    assert second.record.fence == first.record.fence + 1


def test_extend_moves_only_the_owners_lease_and_keeps_the_fence(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """extend(): the owner's IN_PROGRESS lease and TTL move; a stranger or completed key: False."""
    key = stored_key(namespace, "k")
    now = int(clock() * 1000)
    claimed = backend.store.claim(claim_with_1s_lease(key, "me", now)).record
    assert claimed is not None

    assert not backend.store.extend(key, "stranger", lease_expires_at_ms=now + 9000, expires_at_s=9)
    assert backend.store.extend(
        key, "me", lease_expires_at_ms=now + 5000, expires_at_s=now // 1000 + 7200
    )
    record = backend.store.get(key)
    assert record == claimed._replace(
        lease_expires_at_ms=now + 5000, expires_at_s=now // 1000 + 7200
    )
    # The extended lease holds: a claim after the first lease but within the new one is refused.
    assert not backend.store.claim(claim_with_1s_lease(key, "other", now + 1001)).acquired

    assert backend.store.complete(key, "me", now_ms=now + 2000, result="1", expires_at_s=None)
    assert not backend.store.extend(key, "me", lease_expires_at_ms=now + 9000, expires_at_s=9)
    assert not backend.store.extend(
        stored_key(namespace, "absent"), "me", lease_expires_at_ms=now + 9000, expires_at_s=9
    )


def test_an_acquired_claims_record_is_the_stored_item(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """The record a claim answers with equals the item read back, fresh and after a takeover."""
    key = stored_key(namespace, "k")
    now = int(clock() * 1000)
    for owner, now_ms, fingerprint in (("first", now, None), ("second", now + 1001, "f" * 64)):
        result = backend.store.claim(claim_with_1s_lease(key, owner, now_ms, fingerprint))
        record = result.record
        assert result.acquired
        assert record is not None
        assert record == backend.store.get(key)
        assert (record.owner, record.fingerprint, record.attempts) == (
            owner,
            fingerprint,
            1 if owner == "first" else 2,
        )


def test_body_failure_releases_and_reraises_the_same_exception(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """The item is deleted (2 round trips), the exception object is re-raised, a retry runs."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock)(body)
    failure = ValueError("file is malformed")

    with pytest.raises(ValueError, match="malformed") as caught:
        handler({"id": "k", "raise": failure})

    assert caught.value is failure
    assert backend.count() == 2
    assert backend.store.get(stored_key(namespace, "k")) is None
    assert handler({"id": "k", "result": "fixed"}) == "fixed"
    assert len(body.runs) == 2


def test_fence_strictly_increases_across_failure_takeover_and_retention(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """Fences grow after a failure (item deleted), a takeover and an expired retention."""
    body = Body()
    handler = idempotent(
        key_of, store=backend.store, namespace=namespace, clock=clock, lease=10, retention=60
    )(body)

    with pytest.raises(KeyError):
        handler({"id": "k", "raise": KeyError("first attempt fails")})  # clock does not move

    def takeover() -> None:
        clock.advance(11)
        handler({"id": "k"})

    with pytest.raises(LockLostError):
        handler({"id": "k", "hook": takeover})
    clock.advance(61)
    handler({"id": "k"})

    fences = [lock.fence for lock in body.locks if lock is not None]
    assert len(fences) == 4
    assert fences == sorted(set(fences)), fences


def test_current_lock_is_the_running_claim_and_none_outside(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """Inside the body current_lock() names the stored key, our owner token and the fence."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock)(body)
    handler({"id": "k"})

    lock = body.locks[0]
    assert lock is not None
    record = backend.store.get(stored_key(namespace, "k"))
    assert record is not None
    assert (lock.key, lock.owner, lock.fence) == (record.key, record.owner, record.fence)
    assert current_lock() is None


def test_lease_follows_the_lambda_context(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """With a Lambda context the lease is its remaining time plus 2 s; lease= overrides it."""
    seen: list[int] = []

    def body(event: Event, context: object) -> None:
        lock = current_lock()
        assert lock is not None
        seen.append(lock.lease_expires_at_ms)

    now_ms = int(clock() * 1000)
    idempotent(key_of, store=backend.store, namespace=namespace, clock=clock)(body)(
        {"id": "lambda"}, LambdaContext(remaining_ms=45_000)
    )
    idempotent(key_of, store=backend.store, namespace=namespace, clock=clock, lease=7.5)(body)(
        {"id": "explicit"}, LambdaContext(remaining_ms=45_000)
    )
    idempotent(key_of, store=backend.store, namespace=namespace, clock=clock)(body)(
        {"id": "default"}, None
    )

    assert seen == [now_ms + 47_000, now_ms + 7_500, now_ms + 300_000]


def test_retention_window_then_the_key_runs_again(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """Duplicates replay until retention ends (TTL attribute in epoch seconds), then run."""
    body = Body()
    handler = idempotent(
        key_of, store=backend.store, namespace=namespace, clock=clock, retention=100
    )(body)
    handler({"id": "k", "result": 1})
    record = backend.store.get(stored_key(namespace, "k"))
    assert record is not None
    assert record.expires_at_s == math.ceil(clock() + 100)

    clock.advance(99)
    assert handler({"id": "k", "result": 2}) == 1
    clock.advance(2)
    assert handler({"id": "k", "result": 3}) == 3
    assert len(body.runs) == 2


def test_retention_none_keeps_the_key_forever(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """With retention=None no expiry is stored and the key never runs again."""
    body = Body()
    handler = idempotent(
        key_of, store=backend.store, namespace=namespace, clock=clock, retention=None
    )(body)
    handler({"id": "k", "result": "once"})
    record = backend.store.get(stored_key(namespace, "k"))
    assert record is not None
    assert record.expires_at_s is None

    clock.advance(10 * 365 * 86400)
    assert handler({"id": "k", "result": "twice"}) == "once"
    assert len(body.runs) == 1


def test_payload_fingerprint_mismatch(backend: Backend, clock: ManualClock, namespace: str) -> None:
    """Same key, same payload replays; same key, different payload raises PayloadMismatchError."""
    body = Body()
    handler = idempotent(
        key_of,
        store=backend.store,
        namespace=namespace,
        clock=clock,
        fingerprint=lambda event, context=None: event["amount"],
    )(body)
    handler({"id": "k", "amount": 10, "result": "charged 10"})

    assert handler({"id": "k", "amount": 10}) == "charged 10"
    with pytest.raises(PayloadMismatchError) as caught:
        handler({"id": "k", "amount": 99})
    assert caught.value.key == stored_key(namespace, "k")
    assert len(body.runs) == 1


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ({"not json": {1, 2}}, "not JSON-serialisable"),
        (float("nan"), "not JSON-serialisable"),
        ("x" * (400 * 1024), "over the"),
    ],
)
def test_unstorable_result_releases_the_key_and_raises(
    backend: Backend, clock: ManualClock, namespace: str, result: object, reason: str
) -> None:
    """A non-JSON or oversized result: UnstorableResultError, key released, next call runs."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock)(body)

    with pytest.raises(UnstorableResultError, match=reason) as caught:
        handler({"id": "k", "result": result})

    assert caught.value.key == stored_key(namespace, "k")
    assert backend.store.get(stored_key(namespace, "k")) is None
    assert handler({"id": "k", "result": "small"}) == "small"
    assert len(body.runs) == 2


def test_unstorable_result_can_be_omitted(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """With on_unstorable_result="omit" the key completes without a result; duplicates get None."""
    body = Body()
    handler = idempotent(
        key_of,
        store=backend.store,
        namespace=namespace,
        clock=clock,
        on_unstorable_result="omit",
    )(body)
    big = "x" * (400 * 1024)

    assert handler({"id": "k", "result": big}) == big
    assert handler({"id": "k", "result": "again"}) is None
    record = backend.store.get(stored_key(namespace, "k"))
    assert record is not None
    assert (record.status, record.result) == (LockStatus.COMPLETED, None)
    assert len(body.runs) == 1


def test_large_result_under_the_limit_round_trips(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """A 390 KB result is stored and replayed intact."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock)(body)
    big = "y" * (390 * 1024)

    handler({"id": "k", "result": big})
    assert handler({"id": "k"}) == big


def test_over_long_keys_are_hashed_and_stay_distinct(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """Keys past 2048 bytes work: stored hashed under the limit, distinct keys stay distinct."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock)(body)
    long_a = "é" * 3000 + "a"
    long_b = "é" * 3000 + "b"

    assert handler({"id": long_a, "result": "a"}) == "a"
    assert handler({"id": long_b, "result": "b"}) == "b"
    assert handler({"id": long_a}) == "a"
    assert len(body.runs) == 2
    lock = body.locks[0]
    assert lock is not None
    assert len(lock.key.encode()) <= MAX_KEY_BYTES
    assert lock.key.startswith(f"{namespace}#éé")


def test_operator_delete_is_conditioned_on_the_record_read(
    backend: Backend, clock: ManualClock, namespace: str
) -> None:
    """delete(expected=record) refuses once the item changed; without expected it always works."""
    body = Body()
    handler = idempotent(key_of, store=backend.store, namespace=namespace, clock=clock)(body)
    key = stored_key(namespace, "k")
    read_while_running: list[Any] = []
    handler({"id": "k", "hook": lambda: read_while_running.append(backend.store.get(key))})

    assert not backend.store.delete(key, expected=read_while_running[0])  # completed since
    current = backend.store.get(key)
    assert current is not None
    assert backend.store.delete(key, expected=current)
    assert backend.store.get(key) is None
    assert not backend.store.delete(key)

    handler({"id": "k"})
    assert backend.store.delete(key)
    assert backend.store.get(key) is None
