"""Per-record idempotency: ``@idempotent_records`` and the partial batch response per source."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from idemlock import current_lock, idempotent, idempotent_records
from idemlock.batch import RecordStatus
from idemlock.errors import BatchFailedError, EventError, InProgressError, MissingKeyError
from idemlock.item import LockStatus
from idemlock.store import Claim, ClaimResult
from idemlock.testing import LambdaContext, ManualClock, MemoryStore
from tests.aws import fresh_table, make_client
from tests.batch_events import kinesis_event, number, s3_event, sqs_event, stream_event
from tests.proxy import TcpProxy
from tests.round_trips import RoundTrips

EventRecord = dict[str, Any]


class Handle:
    """A per-record body that records the order it ran in and fails on chosen numbers."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.ran: list[int] = []
        self.fail_on = fail_on or set()
        self.lock = threading.Lock()

    def __call__(self, record: EventRecord, context: object) -> dict[str, int]:
        n = number(record)
        with self.lock:
            self.ran.append(n)
        if n in self.fail_on:
            raise RuntimeError(f"record {n} failed")
        return {"n": n}


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_sqs_standard_runs_every_message_and_reports_each_failure() -> None:
    """SQS standard: all messages run; each failed messageId is reported; the rest complete."""
    store = MemoryStore()
    handle = Handle(fail_on={1, 3})
    handler = idempotent_records(store=store, namespace="q")(handle)

    response = handler(sqs_event(5), LambdaContext())

    assert failed_ids(response) == ["m-1", "m-3"]
    assert handle.ran == [0, 1, 2, 3, 4]
    assert store.get("q#m-0") is not None
    assert store.get("q#m-1") is None  # released: the redelivery runs it again


def test_sqs_fifo_stops_at_the_first_failure_and_reports_every_later_message() -> None:
    """SQS FIFO: stop at the failure; report it and all later messages; release their claims."""
    store = MemoryStore()
    handle = Handle(fail_on={2})
    handler = idempotent_records(store=store, namespace="q")(handle)

    response = handler(sqs_event(6, fifo=True), LambdaContext())

    assert failed_ids(response) == ["m-2", "m-3", "m-4", "m-5"]
    assert handle.ran == [0, 1, 2]
    assert [store.get(f"q#m-{n}") is None for n in range(6)] == [False] * 2 + [True] * 4


@pytest.mark.parametrize(
    ("event", "identifier"),
    [
        (stream_event(6), lambda record: record["dynamodb"]["SequenceNumber"]),
        (kinesis_event(6), lambda record: record["kinesis"]["sequenceNumber"]),
    ],
    ids=["dynamodb-streams", "kinesis"],
)
def test_streams_stop_at_the_first_failure_and_report_its_sequence_number(
    event: dict[str, Any], identifier: Callable[[EventRecord], str]
) -> None:
    """Streams and Kinesis: stop at the failure, report only its sequence number (the
    checkpoint), do not run later records and release their claims."""
    store = MemoryStore()
    handle = Handle(fail_on={2})
    handler = idempotent_records(store=store, namespace="s")(handle)

    response = handler(event, LambdaContext())

    assert failed_ids(response) == [identifier(event["Records"][2])]
    assert handle.ran == [0, 1, 2]
    statuses = [record.status for record in store.scan()]
    assert statuses == [LockStatus.COMPLETED, LockStatus.COMPLETED]


def test_s3_runs_every_object_then_raises_listing_the_failed_ones() -> None:
    """S3 has no partial response: all objects run, then BatchFailedError names the failures;
    the retry runs only those."""
    store = MemoryStore()
    ran: list[str] = []

    @idempotent_records(store=store, namespace="import")
    def handle(record: EventRecord, context: object) -> None:
        key = record["s3"]["object"]["key"]
        ran.append(key)
        if key == "bad.csv" and ran.count(key) == 1:
            raise ValueError("bad.csv: row 3 is malformed")

    event = s3_event("a.csv", "bad.csv", "c+d.csv")
    with pytest.raises(BatchFailedError, match=r"uploads/bad\.csv.*row 3 is malformed") as caught:
        handle(event, LambdaContext())
    assert ran == ["a.csv", "bad.csv", "c+d.csv"]
    assert [o.status for o in caught.value.outcome.records] == [
        RecordStatus.COMPLETED,
        RecordStatus.FAILED,
        RecordStatus.COMPLETED,
    ]

    assert handle(event, LambdaContext()) == {"batchItemFailures": []}
    assert ran == ["a.csv", "bad.csv", "c+d.csv", "bad.csv"]


def test_duplicate_records_are_skipped_with_their_stored_result() -> None:
    """A record whose key completed before is DUPLICATE, its stored result in the outcome."""
    store = MemoryStore()
    handle = Handle()
    handler = idempotent_records(store=store)(handle)
    handler(sqs_event(2), LambdaContext())

    outcome = handler.process(sqs_event(3), LambdaContext())

    assert [o.status for o in outcome.records] == [
        RecordStatus.DUPLICATE,
        RecordStatus.DUPLICATE,
        RecordStatus.COMPLETED,
    ]
    assert [o.result for o in outcome.records] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert handle.ran == [0, 1, 2]


def test_a_record_held_by_another_invocation_is_reported() -> None:
    """A record in progress elsewhere fails with InProgressError and is reported for retry."""
    store = MemoryStore()
    handle = Handle()
    handler = idempotent_records(store=store, namespace="q")(handle)
    holder = idempotent(lambda record: record["messageId"], store=store, namespace="q")

    def hold_m1_then_batch(record: EventRecord) -> dict[str, Any]:
        return handler(sqs_event(3), LambdaContext())

    response = holder(hold_m1_then_batch)(sqs_event(3)["Records"][1])

    assert failed_ids(response) == ["m-1"]
    assert handle.ran == [0, 2]
    outcome_error = handler.process(sqs_event(3)).records[1].error
    assert outcome_error is None  # the holder completed since: now it is a duplicate


def test_a_record_without_a_key_fails_alone() -> None:
    """key_fn failing on one record fails that record (MissingKeyError); the others run."""
    store = MemoryStore()
    handle = Handle()
    handler = idempotent_records(lambda record: record["attributes"]["Custom"], store=store)(handle)
    event = sqs_event(3)
    for n, record in enumerate(event["Records"]):
        if n != 1:
            record["attributes"]["Custom"] = f"c{n}"

    outcome = handler.process(event, LambdaContext())

    assert [o.status for o in outcome.records] == [
        RecordStatus.COMPLETED,
        RecordStatus.FAILED,
        RecordStatus.COMPLETED,
    ]
    assert isinstance(outcome.records[1].error, MissingKeyError)
    assert failed_ids(outcome.response()) == ["m-1"]


class SlowClaimStore(MemoryStore):
    """Claims come back in a random order, after random delays."""

    def claim(self, claim: Claim) -> ClaimResult:
        time.sleep(random.uniform(0, 0.01))
        return super().claim(claim)


def test_bodies_run_in_record_order_each_holding_its_own_lock() -> None:
    """Claims finish in any order; bodies still run in record order with their own lock."""
    store = SlowClaimStore()
    seen: list[tuple[int, str | None]] = []

    @idempotent_records(store=store, namespace="o", concurrency=8)
    def handle(record: EventRecord, context: object) -> None:
        lock = current_lock()
        seen.append((number(record), lock.key if lock else None))

    handle(stream_event(40), LambdaContext())

    assert [n for n, _ in seen] == list(range(40))
    assert [key for _, key in seen] == [
        f"o#{record['eventSourceARN']}#{record['dynamodb']['SequenceNumber']}"
        for record in stream_event(40)["Records"]
    ]


def test_disabled_runs_every_record_without_a_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """IDEMLOCK_DISABLED=1: every record runs every time; no store call; current_lock is None."""
    monkeypatch.setenv("IDEMLOCK_DISABLED", "1")
    store = MemoryStore()
    locks: list[object] = []

    @idempotent_records(store=store)
    def handle(record: EventRecord, context: object) -> None:
        locks.append(current_lock())

    handle(sqs_event(2))
    handle(sqs_event(2))
    assert locks == [None] * 4
    assert store.calls.total() == 0


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ({}, "Records"),
        ({"Records": []}, "Records"),
        ({"Records": "x"}, "Records"),
        ({"Records": [{"eventSource": "aws:sns"}]}, "eventSource"),
        ({"Records": [{"no": "source"}]}, "eventSource"),
    ],
)
def test_malformed_batches_raise_event_error(event: dict[str, Any], path: str) -> None:
    """A batch without records, or of an unsupported source, is an EventError naming the path."""
    handler = idempotent_records(store=MemoryStore(), namespace="malformed")(Handle())

    with pytest.raises(EventError) as caught:
        handler(event)
    assert path in caught.value.path


def test_a_batch_mixing_sources_is_an_event_error() -> None:
    """Every record must come from the first record's source."""
    event = {"Records": sqs_event(1)["Records"] + stream_event(1)["Records"]}
    with pytest.raises(EventError, match="eventSource"):
        idempotent_records(store=MemoryStore(), namespace="mixed")(Handle())(event)


def test_redelivered_stream_batch_runs_only_what_did_not_complete(dynamodb_local: str) -> None:
    """On DynamoDB Local: a batch fails at record 3; the redelivery (from the checkpoint, as
    Lambda does, and the whole batch again) runs records 3.. exactly once."""
    store = fresh_table(dynamodb_local)
    handle = Handle(fail_on={3})
    handler = idempotent_records(store=store, namespace="audit")(handle)
    event = stream_event(8)

    first = handler(event, LambdaContext())
    assert failed_ids(first) == ["103"]

    handle.fail_on = set()
    from_checkpoint = {"Records": event["Records"][3:]}
    assert handler(from_checkpoint, LambdaContext()) == {"batchItemFailures": []}
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}

    assert handle.ran == [0, 1, 2, 3, 3, 4, 5, 6, 7]
    assert sorted(r.key for r in store.scan(prefix="audit#")) == sorted(
        f"audit#{r['eventSourceARN']}#{r['dynamodb']['SequenceNumber']}" for r in event["Records"]
    )


def test_redelivered_sqs_batch_runs_only_the_failed_messages(dynamodb_local: str) -> None:
    """On DynamoDB Local: SQS standard with two failures; the redelivery runs just those two."""
    store = fresh_table(dynamodb_local)
    handle = Handle(fail_on={1, 4})
    handler = idempotent_records(store=store, namespace="orders")(handle)

    assert failed_ids(handler(sqs_event(6), LambdaContext())) == ["m-1", "m-4"]
    handle.fail_on = set()
    assert handler(sqs_event(6), LambdaContext()) == {"batchItemFailures": []}
    assert handle.ran == [0, 1, 2, 3, 4, 5, 1, 4]


def test_a_batch_costs_a_few_round_trips_of_latency(dynamodb_local: str) -> None:
    """100 records through a proxy adding 5 ms each way: 8 requests (the claims and the
    completes, 25 to a request), sent concurrently; the wall time is printed, not asserted
    (shared machines)."""
    table = fresh_table(dynamodb_local)
    port = urlsplit(dynamodb_local).port
    assert port is not None
    with TcpProxy(port) as proxy:
        client = make_client(proxy.endpoint_url, max_pool_connections=32)
        store = type(table)(table.table_name, client=client)
        # A clock that stands still: no claim ages past the renewal threshold (a second) on a
        # loaded machine, so the count is the batch's requests, never renewals.
        handler = idempotent_records(store=store, namespace="latency", clock=ManualClock())(
            Handle()
        )
        handler(sqs_event(1, prefix="warm-up"), LambdaContext())  # opens the first connection
        proxy.latency = 0.005
        started = time.perf_counter()
        store.get("latency#probe")
        round_trip = time.perf_counter() - started
        with RoundTrips().counting(client) as trips:
            started = time.perf_counter()
            assert handler(sqs_event(100), LambdaContext()) == {"batchItemFailures": []}
            elapsed = time.perf_counter() - started

    assert trips.operations == ["BatchExecuteStatement"] * 8
    print(
        f"\n100-record batch through a 5 ms-each-way proxy: {trips.count} calls in "
        f"{elapsed * 1000:.0f} ms; one call takes {round_trip * 1000:.0f} ms, so sequential "
        f"calls would take about {trips.count * round_trip * 1000:.0f} ms"
    )


def test_invalid_concurrency_is_a_configuration_error() -> None:
    """concurrency must be a positive count."""
    from idemlock.errors import ConfigurationError  # noqa: PLC0415

    with pytest.raises(ConfigurationError, match="concurrency"):
        idempotent_records(store=MemoryStore(), concurrency=0)


def test_in_progress_errors_surface_in_outcomes() -> None:
    """The outcome of a record held elsewhere carries the InProgressError itself."""
    store = MemoryStore()
    handler = idempotent_records(store=store, namespace="q")(Handle())
    holder = idempotent(
        lambda record: record["messageId"], store=store, namespace="q", store_result=False
    )

    def batch_while_holding(record: EventRecord) -> Any:
        return handler.process(sqs_event(1), LambdaContext())

    outcome = holder(batch_while_holding)(sqs_event(1)["Records"][0])

    assert isinstance(outcome.records[0].error, InProgressError)


def test_a_key_twice_in_one_batch_shares_the_first_copys_fate() -> None:
    """Two records with one key: the first runs; the second is its duplicate when it completes,
    and is reported with it when it fails, so that the redelivery brings both back."""
    store = MemoryStore()
    handle = Handle(fail_on={1})
    handler = idempotent_records(lambda record: json.loads(record["body"])["n"] % 2, store=store)(
        handle
    )

    outcome = handler.process(sqs_event(4), LambdaContext())

    assert handle.ran == [0, 1]
    assert [o.status for o in outcome.records] == [
        RecordStatus.COMPLETED,
        RecordStatus.FAILED,
        RecordStatus.DUPLICATE,
        RecordStatus.FAILED,
    ]
    assert outcome.records[2].result == {"n": 0}
    assert failed_ids(outcome.response()) == ["m-1", "m-3"]
