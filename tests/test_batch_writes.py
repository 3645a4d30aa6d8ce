"""Batches through a store's batch writes: requests per batch, what waits for what, the window.

Counts, never times: the requests a batch sends (MemoryStore counts each batch call as one), and
which calls are in flight at once, shown by stores that hold a call until something else happened
(a body ran, another call arrived).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any, cast

import pytest

from idemlock import idempotent_records
from idemlock.batch import RecordStatus
from idemlock.errors import ConfigurationError, StoreError
from idemlock.store import (
    Claim,
    ClaimResult,
    CompleteRequest,
    LockStore,
    ReleaseRequest,
    batch_writes,
)
from idemlock.testing import LambdaContext, MemoryStore
from tests.batch_events import kinesis_event, number, sqs_event, stream_event

EventRecord = dict[str, Any]

HELD_S = 10.0
"""How long a holding store waits for what it waits for before the test fails (a deadlock guard,
not a timing assertion: the event it waits for happens at once when the batch is right)."""


def ok(record: EventRecord, context: object) -> dict[str, int]:
    return {"n": number(record)}


@pytest.mark.parametrize(
    "event",
    [sqs_event(100), kinesis_event(100), stream_event(100), sqs_event(100, fifo=True)],
    ids=["sqs", "kinesis", "dynamodb", "sqs-fifo"],
)
def test_100_records_cost_4_claim_and_4_complete_requests(event: dict[str, Any]) -> None:
    """Ordered or not, 100 records send their claims and completes 25 to a request: 8 requests,
    where one request per claim and per complete would be 200."""
    store = MemoryStore()
    handler = idempotent_records(store=store, namespace="b")(ok)
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert store.calls == {"claim_many": 4, "complete_many": 4}


def test_a_redelivered_batch_of_duplicates_costs_its_claim_requests_only() -> None:
    """The same 100 records again: 4 claim requests answer every record (no complete)."""
    store = MemoryStore()
    handler = idempotent_records(store=store, namespace="b")(ok)
    handler(kinesis_event(100), LambdaContext())
    store.calls.clear()
    outcome = handler.process(kinesis_event(100), LambdaContext())
    assert {o.status for o in outcome.records} == {RecordStatus.DUPLICATE}
    assert store.calls == {"claim_many": 4}


class HoldsCompletes(MemoryStore):
    """Holds every complete request until the batch's last body has run."""

    def __init__(self, last: int) -> None:
        super().__init__()
        self.last = last
        self.last_body_ran = threading.Event()

    def complete_many(self, completes: Sequence[CompleteRequest]) -> list[bool | StoreError]:
        assert self.last_body_ran.wait(HELD_S), "a body waited for a complete"
        return super().complete_many(completes)


@pytest.mark.parametrize(
    "event", [kinesis_event(100), sqs_event(100)], ids=["ordered", "unordered"]
)
def test_no_body_waits_for_a_complete(event: dict[str, Any]) -> None:
    """Completes are off the bodies' path, in an ordered batch too: every body runs while the
    completes before it are still unanswered; the batch ends once they land."""
    store = HoldsCompletes(last=99)

    def handle(record: EventRecord, context: object) -> None:
        if number(record) == store.last:
            store.last_body_ran.set()

    handler = idempotent_records(store=store, namespace="b")(handle)
    outcome = handler.process(event, LambdaContext())
    assert {o.status for o in outcome.records} == {RecordStatus.COMPLETED}
    assert store.calls["complete_many"] == 4


class MeetsClaims(MemoryStore):
    """Answers no claim request until ``wave`` of them are in flight at once."""

    def __init__(self, wave: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(wave, timeout=HELD_S)

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | StoreError]:
        self.barrier.wait()  # BrokenBarrierError: the claims went out one after another
        return super().claim_many(claims)


def test_the_claim_requests_of_a_batch_go_out_at_once() -> None:
    """The 4 claim requests of 100 records are in flight together: one wave, not four."""
    store = MeetsClaims(wave=4)
    handler = idempotent_records(store=store, namespace="b")(ok)
    assert handler(kinesis_event(100), LambdaContext()) == {"batchItemFailures": []}
    assert store.calls["claim_many"] == 4


class CountsAhead(MemoryStore):
    """Records how many claims were answered and not yet followed by their body, at most."""

    def __init__(self) -> None:
        super().__init__()
        self.claimed = self.ran = self.most_ahead = 0

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | StoreError]:
        answers = super().claim_many(claims)
        with self._lock:
            self.claimed += len(claims)
            self.most_ahead = max(self.most_ahead, self.claimed - self.ran)
        return answers


def test_claims_go_out_a_bounded_window_ahead_of_the_bodies() -> None:
    """10,000 records: claims run at most the window ahead of the bodies (the pool's threads
    times 25 records, and a request's worth more), never all 10,000 at once."""
    store = CountsAhead()
    concurrency = 4

    def handle(record: EventRecord, context: object) -> None:
        with store._lock:
            store.ran += 1

    handler = idempotent_records(store=store, namespace="b", concurrency=concurrency)(handle)
    outcome = handler.process(sqs_event(10_000), LambdaContext())
    assert {o.status for o in outcome.records} == {RecordStatus.COMPLETED}
    assert store.claimed == 10_000
    assert store.most_ahead <= (concurrency + 1) * 25 + 1


def test_after_an_ordered_failure_records_never_claimed_are_not_claimed() -> None:
    """Kinesis, 100 records, record 3 fails (concurrency 1: a window of 25 records): the claims
    taken ahead are released in batch requests; the records past the window are reported,
    never claimed."""
    store = CountsAhead()

    def handle(record: EventRecord, context: object) -> None:
        if number(record) == 3:
            raise RuntimeError("record 3 failed")

    handler = idempotent_records(store=store, namespace="b", concurrency=1)(handle)
    outcome = handler.process(kinesis_event(100), LambdaContext())
    statuses = [o.status for o in outcome.records]
    assert statuses[:4] == [RecordStatus.COMPLETED] * 3 + [RecordStatus.FAILED]
    assert set(statuses[4:]) == {RecordStatus.NOT_RUN}
    assert store.claimed <= 30  # the window (26 records), topped up as records 0-2 ran
    assert store.calls["release_many"] == 2  # the failed record's and those claimed ahead
    assert [item.key for item in store.scan()] == [outcome.records[n].key for n in range(3)]


def test_failed_bodies_are_released_in_batch_requests() -> None:
    """SQS standard, every other body fails: 50 releases and 50 completes, 2 requests each."""
    store = MemoryStore()

    def handle(record: EventRecord, context: object) -> None:
        if number(record) % 2:
            raise RuntimeError("odd")

    handler = idempotent_records(store=store, namespace="b")(handle)
    response = handler(sqs_event(100), LambdaContext())
    assert len(response["batchItemFailures"]) == 50
    assert store.calls == {"claim_many": 4, "complete_many": 2, "release_many": 2}
    assert len(list(store.scan())) == 50


class FailsOneClaim(MemoryStore):
    """Its batch claim answers ``key``'s entry with a StoreError (retries spent)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | StoreError]:
        answers = super().claim_many([c for c in claims if c.key != self.key])
        failed = StoreError("throttled through every retry", operation="claim", key=self.key)
        rest = iter(answers)
        return [failed if c.key == self.key else next(rest) for c in claims]


def test_a_claim_the_store_could_not_write_fails_its_record_only() -> None:
    """One claim statement fails: that record fails (reported), the others of the request run."""
    store = FailsOneClaim("b#m-2")
    handler = idempotent_records(store=store, namespace="b")(ok)
    outcome = handler.process(sqs_event(5), LambdaContext())
    statuses = [o.status for o in outcome.records]
    assert (
        statuses
        == [RecordStatus.COMPLETED] * 2 + [RecordStatus.FAILED] + [RecordStatus.COMPLETED] * 2
    )
    assert isinstance(outcome.records[2].error, StoreError)
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}


class SingleItemStore(MemoryStore):
    """A user's store with the LockStore methods only: no batch writes (a method set to
    ``None`` opts a class out of one it inherits)."""

    claim_many = complete_many = release_many = None  # type: ignore[assignment]


def test_a_store_without_batch_writes_gets_one_request_per_record() -> None:
    """A LockStore without batch writes still works: one claim and one complete per record."""
    store = SingleItemStore()
    assert isinstance(store, LockStore)
    assert batch_writes(store) is None
    handler = idempotent_records(store=store, namespace="b")(ok)
    assert handler(kinesis_event(30), LambdaContext()) == {"batchItemFailures": []}
    assert store.calls == {"claim": 30, "complete": 30}


class Wrapping:
    """A user's store that wraps another and hands it every call through ``__getattr__``."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class WrappingWithBatches(Wrapping):
    """The same, defining the batch methods itself."""

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | StoreError]:
        return self.inner.claim_many(claims)

    def complete_many(self, completes: Sequence[CompleteRequest]) -> list[bool | StoreError]:
        return self.inner.complete_many(completes)

    def release_many(self, releases: Sequence[ReleaseRequest]) -> list[bool | StoreError]:
        return self.inner.release_many(releases)


def test_a_wrapping_store_writes_in_batches_only_by_defining_the_methods() -> None:
    """Batch writes are found on the store's class, on every Python (3.12's ``isinstance`` of a
    protocol ignores ``__getattr__``, 3.11's did not): a store that delegates through
    ``__getattr__`` sends one request per record, unless it defines the batch methods, whose
    attributes it may still delegate."""
    plain = Wrapping(MemoryStore())
    assert batch_writes(plain) is None
    handler = idempotent_records(store=cast(LockStore, plain), namespace="b")(ok)
    assert handler(kinesis_event(30), LambdaContext()) == {"batchItemFailures": []}
    assert plain.inner.calls == {"claim": 30, "complete": 30}

    batched = WrappingWithBatches(MemoryStore())
    assert batch_writes(batched) is batched
    handler = idempotent_records(store=cast(LockStore, batched), namespace="b")(ok)
    assert handler(kinesis_event(30), LambdaContext()) == {"batchItemFailures": []}
    assert batched.inner.calls == {"claim_many": 2, "complete_many": 2}


class HalfBatches(MemoryStore):
    """A store whose batch writes were left half done: no release_many."""

    release_many = None  # type: ignore[assignment]


class NoBatchLimit:
    """The batch methods without the attributes that say how to use them."""

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | StoreError]:
        return []

    def complete_many(self, completes: Sequence[CompleteRequest]) -> list[bool | StoreError]:
        return []

    def release_many(self, releases: Sequence[ReleaseRequest]) -> list[bool | StoreError]:
        return []


def test_a_store_with_part_of_the_batch_writes_is_a_configuration_error() -> None:
    """Some batch methods but not all, or not the attributes: the batch fails before any call
    with a ConfigurationError naming what the store lacks."""
    store = HalfBatches()
    handler = idempotent_records(store=store, namespace="b")(ok)
    with pytest.raises(ConfigurationError, match=r"HalfBatches has .* but not release_many:"):
        handler(kinesis_event(3), LambdaContext())
    assert store.calls == {}
    with pytest.raises(ConfigurationError, match="not batch_limit, writes_in_batches:"):
        batch_writes(NoBatchLimit())


def test_a_key_twice_in_a_batch_is_claimed_once() -> None:
    """Two records with one key in one request would be refused by DynamoDB: the second copy is
    never claimed, and shares the first's fate."""
    store = MemoryStore()
    handler = idempotent_records(lambda record: json.loads(record["body"])["n"] % 3, store=store)(
        ok
    )
    outcome = handler.process(sqs_event(9), LambdaContext())
    assert [o.status for o in outcome.records] == [RecordStatus.COMPLETED] * 3 + [
        RecordStatus.DUPLICATE
    ] * 6
    assert store.calls == {"claim_many": 1, "complete_many": 1}
