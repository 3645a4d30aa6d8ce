"""Every transition reaches ``on_event=`` (and the ``idemlock`` logger), on DynamoDB Local."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest

from idemlock import DynamoDBStore, current_lock, idempotent, idempotent_records
from idemlock.errors import InProgressError, LockLostError, PayloadMismatchError, StoreError
from idemlock.events import LockEvent
from idemlock.metrics import CloudWatchMetrics
from idemlock.testing import LambdaContext, ManualClock
from tests.aws import fresh_table
from tests.batch_events import sqs_event
from tests.recording import Events


@pytest.fixture(scope="module")
def store(dynamodb_local: str) -> DynamoDBStore:
    """One lock table on DynamoDB Local for this module; each test has its own namespace."""
    return fresh_table(dynamodb_local)


def test_a_first_run_then_duplicates_emit_claimed_completed_duplicate(
    store: DynamoDBStore, namespace: str
) -> None:
    """claimed → completed (with the body's duration) → duplicate; cached once remembered."""
    events = Events()

    @idempotent(
        lambda order: order, store=store, namespace=namespace, on_event=events, local_cache=8
    )
    def charge(order: str) -> str:
        time.sleep(0.02)
        return order

    charge("o-1")
    charge("o-1")
    assert events.kinds() == ["claimed", "completed", "duplicate"]
    claimed, completed, duplicate = events
    assert (claimed.key, claimed.namespace) == (f"{namespace}#o-1", namespace)
    assert claimed.fence == completed.fence
    assert claimed.attempt == 1
    assert completed.duration_ms is not None
    assert completed.duration_ms >= 20
    assert duplicate.cached  # the complete put it in the local cache


def test_a_duplicate_from_the_table_is_not_cached(store: DynamoDBStore, namespace: str) -> None:
    """Another container's duplicate reads the table: ``cached`` is False, the fence shown."""
    events = Events()
    first = idempotent(lambda order: order, store=store, namespace=namespace)(lambda order: 1)
    second = idempotent(lambda order: order, store=store, namespace=namespace, on_event=events)(
        lambda order: 2
    )
    first("o-1")
    assert second("o-1") == 1
    (duplicate,) = events
    assert duplicate.kind == "duplicate"
    assert not duplicate.cached
    assert duplicate.fence is not None


def test_in_progress_takeover_and_release_are_events(store: DynamoDBStore, namespace: str) -> None:
    """A live claim refuses (in_progress); after its lease, taken_over; a failure, released."""
    events = Events()
    clock = ManualClock(start=time.time())
    entered, leave = threading.Event(), threading.Event()

    @idempotent(lambda order: order, store=store, namespace=namespace, lease=1, clock=clock)
    def stuck(order: str) -> None:
        entered.set()
        leave.wait(10)

    @idempotent(
        lambda order: order, store=store, namespace=namespace, lease=1, clock=clock, on_event=events
    )
    def fail(order: str) -> None:
        raise ValueError("bad order")

    def run_stuck() -> None:
        with pytest.raises(LockLostError):  # taken over while it waited: its complete refused
            stuck("o-1")

    worker = threading.Thread(target=run_stuck)
    worker.start()
    assert entered.wait(10)
    with pytest.raises(InProgressError):
        fail("o-1")
    clock.advance(2)
    with pytest.raises(ValueError, match="bad order"):
        fail("o-1")
    leave.set()
    worker.join(10)
    assert events.kinds() == ["in_progress", "taken_over", "released"]
    taken_over, released = events[1:]
    assert taken_over.attempt == 2
    assert isinstance(released.error, ValueError)


def test_a_lost_lock_and_a_payload_mismatch_are_events(
    store: DynamoDBStore, namespace: str
) -> None:
    """complete finding another owner: lock_lost; another payload for a key: payload_mismatch."""
    events = Events()

    @idempotent(
        lambda order, amount: order,
        store=store,
        namespace=namespace,
        on_event=events,
        fingerprint=lambda order, amount: amount,
    )
    def charge(order: str, amount: int) -> None:
        lock = current_lock()
        assert lock is not None
        if amount == 1:
            store.delete(lock.key)  # an operator's forced release while we run

    with pytest.raises(LockLostError):
        charge("o-1", 1)
    charge("o-2", 2)
    with pytest.raises(PayloadMismatchError):
        charge("o-2", 3)
    assert events.kinds() == [
        "claimed",
        "lock_lost",
        "claimed",
        "completed",
        "payload_mismatch",
    ]


def test_a_store_error_is_an_event(dynamodb_local: str, namespace: str) -> None:
    """A table that is not there: store_error, with the error."""
    events = Events()
    missing = fresh_table(dynamodb_local)
    missing.client.delete_table(TableName=missing.table_name)

    @idempotent(lambda order: order, store=missing, namespace=namespace, on_event=events)
    def charge(order: str) -> None: ...

    with pytest.raises(StoreError):
        charge("o-1")
    (event,) = events
    assert event.kind == "store_error"
    assert isinstance(event.error, StoreError)


def test_transitions_are_logged_with_structured_fields(
    store: DynamoDBStore, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Without on_event, the logger still gets every transition, its fields as ``extra``."""
    handler = idempotent(lambda order: order, store=store, namespace=namespace)(lambda order: 1)
    with caplog.at_level(logging.DEBUG, logger="idemlock"):
        handler("o-1")
        handler("o-1")
    kinds = [r.__dict__.get("idemlock_kind") for r in caplog.records if r.name == "idemlock"]
    assert kinds == ["claimed", "completed", "duplicate"]


def test_a_failing_sink_is_logged_and_never_breaks_the_call(
    store: DynamoDBStore, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A sink that raises: the call goes on, and the sink's failure is logged."""

    def broken(event: LockEvent) -> None:
        raise RuntimeError("metrics backend down")

    handler = idempotent(lambda order: order, store=store, namespace=namespace, on_event=broken)(
        lambda order: "ok"
    )
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        assert handler("o-1") == "ok"
    assert any("on_event" in record.getMessage() for record in caplog.records)


def test_batch_records_emit_events_and_a_duplicate_storm_is_counted(
    store: DynamoDBStore, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """@idempotent_records with the CloudWatch sink: 5 first runs, then 20 times 5 duplicates."""
    sink = CloudWatchMetrics(service="orders")
    handler = idempotent_records(store=store, namespace=namespace, on_event=sink)(
        lambda record, context: None
    )
    handler(sqs_event(5), LambdaContext())
    for _ in range(20):
        handler(sqs_event(5), LambdaContext())
    totals: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        document: dict[str, Any] = json.loads(line)
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(document[metric["Name"]])
    assert totals["Claims"] == 5
    assert totals["Completions"] == 5
    assert totals["Duplicates"] == 100


def test_a_claim_after_the_retention_is_claimed_not_taken_over(
    store: DynamoDBStore, namespace: str
) -> None:
    """Running a key again once its retention is over is a new claim (attempt 2), not a
    takeover: ``taken_over`` counts only leases that ran out, the crashes and timeouts an
    operator alarms on."""
    events = Events()
    clock = ManualClock(start=time.time())

    @idempotent(
        lambda order: order,
        store=store,
        namespace=namespace,
        retention=1,
        clock=clock,
        on_event=events,
    )
    def charge(order: str) -> str:
        return order

    charge("o-1")
    clock.advance(2)
    charge("o-1")
    assert events.kinds() == ["claimed", "completed", "claimed", "completed"]
    assert [event.attempt for event in events] == [1, 1, 2, 2]


def test_a_release_that_finds_another_owner_marks_the_lock_lost(
    store: DynamoDBStore, namespace: str
) -> None:
    """A body that fails after its key was taken over cannot release it: as for a refused
    complete, its lock is marked lost and ``on_lock_lost`` runs, once."""
    events = Events()
    told: list[bool] = []
    held: list[Any] = []

    @idempotent(
        lambda order: order,
        store=store,
        namespace=namespace,
        on_event=events,
        on_lock_lost=lambda lock: told.append(lock.lost),
    )
    def charge(order: str) -> None:
        lock = current_lock()
        assert lock is not None
        held.append(lock)
        store.delete(lock.key)  # an operator's forced release, then another claim takes it
        rival = idempotent(lambda order: order, store=store, namespace=namespace)(lambda o: o)
        assert rival(order) == order
        raise ValueError("bad order")

    with pytest.raises(ValueError, match="bad order"):
        charge("o-1")
    assert events.kinds() == ["claimed", "lock_lost"]
    assert told == [True]
    assert held[0].lost
