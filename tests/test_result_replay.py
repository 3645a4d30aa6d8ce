"""Results end to end on DynamoDB Local: replayed as returned, or never a second run.

Issue 25: a result that cannot be stored completes its key (the reason in the item) instead of
releasing it, so no duplicate runs the body again, in a direct call, from a warm cache or in a
batch; and results replay as the types the function returned (by annotation or
``result_type=``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple

import pydantic
import pytest

from idemlock import DynamoDBStore, idempotent, idempotent_records
from idemlock._results import unstored_reason
from idemlock.batch import RecordStatus
from idemlock.errors import (
    ConfigurationError,
    ResultNotStoredError,
    UnreadableResultError,
    UnstorableResultError,
    UnstorableValueError,
)
from idemlock.item import LockStatus
from tests.batch_events import number, sqs_event
from tests.cli_helpers import UNREADABLE_RESULTS, overwrite_result


@dataclass
class Line:
    sku: str
    price: Decimal


@dataclass
class Receipt:
    order: str
    lines: list[Line]
    at: datetime
    tags: frozenset[str] = field(default_factory=frozenset)


class Point(NamedTuple):
    x: Decimal
    y: Decimal


class Refund(pydantic.BaseModel):
    refund_id: uuid.UUID
    amount: Decimal
    on: date


def test_an_unstorable_result_completes_the_key_and_a_duplicate_never_runs(
    store: DynamoDBStore, namespace: str
) -> None:
    """The caller learns the body ran and its result was not stored; the key is COMPLETED with
    the reason; a duplicate gets ResultNotStoredError and the body runs once (it was released
    and run again before)."""
    runs = []

    @idempotent(lambda order: order, store=store, namespace=namespace)
    def charge(order: str) -> object:
        runs.append(order)
        return {"charged": True, "handle": object()}

    with pytest.raises(
        UnstorableValueError, match=r"ran, but its result cannot be stored"
    ) as first:
        charge("o-1")
    assert first.value.path == "result['handle']"
    item = store.get(f"{namespace}#o-1")
    assert item is not None
    assert item.status is LockStatus.COMPLETED
    assert "result['handle'] (object) has no stored form" in (unstored_reason(item.result) or "")
    with pytest.raises(ResultNotStoredError, match="is not run again") as duplicate:
        charge("o-1")
    assert duplicate.value.reason == first.value.reason
    assert runs == ["o-1"]


def test_a_warm_cache_duplicate_of_an_unstored_result_is_refused_too(
    store: DynamoDBStore, namespace: str
) -> None:
    """The local cache keeps the marker: its duplicates raise as the store's would."""
    runs = []

    @idempotent(lambda order: order, store=store, namespace=namespace, local_cache=8)
    def charge(order: str) -> object:
        runs.append(order)
        return object()

    with pytest.raises(UnstorableValueError):
        charge("o-1")
    for _ in range(2):
        with pytest.raises(ResultNotStoredError):
            charge("o-1")
    assert runs == ["o-1"]


def test_an_async_body_with_an_unstorable_result_runs_once(
    store: DynamoDBStore, namespace: str
) -> None:
    """The async driver completes the key the same way."""
    runs = []

    @idempotent(lambda order: order, store=store, namespace=namespace)
    async def charge(order: str) -> object:
        runs.append(order)
        return 1j

    with pytest.raises(UnstorableValueError):
        asyncio.run(charge("o-1"))
    with pytest.raises(ResultNotStoredError):
        asyncio.run(charge("o-1"))
    assert runs == ["o-1"]


def test_a_batch_record_with_an_unstorable_result_is_done_not_retried(
    store: DynamoDBStore, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """SQS: the record whose result cannot be stored ran, so it is not reported for a retry
    (a retry would only meet ResultNotStoredError); the redelivery runs nothing; it is logged."""
    runs = []

    @idempotent_records(store=store, namespace=namespace)
    def handle(record: dict[str, Any], context: object) -> object:
        runs.append(number(record))
        return object() if number(record) == 1 else "ok"

    event = sqs_event(3)
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        first = handle.process(event, None)
    assert first.response() == {"batchItemFailures": []}
    assert [o.status for o in first.records] == [RecordStatus.COMPLETED] * 3
    assert isinstance(first.records[1].error, UnstorableResultError)
    assert any("result is not stored" in message for message in caplog.messages)
    again = handle.process(event, None)
    assert [o.status for o in again.records] == [RecordStatus.DUPLICATE] * 3
    assert isinstance(again.records[1].error, ResultNotStoredError)
    assert runs == [0, 1, 2]


def test_a_return_annotation_that_is_never_storable_warns_at_decoration(
    store: DynamoDBStore, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``-> asyncio.Lock`` can never be stored: said once, when the function is decorated."""
    with caplog.at_level(logging.WARNING, logger="idemlock"):

        @idempotent(lambda order: order, store=store, namespace=namespace)
        def lock_for(order: str) -> asyncio.Lock:
            return asyncio.Lock()

    assert len(caplog.messages) == 1
    assert "lock_for is annotated to return what cannot be stored" in caplog.messages[0]
    assert "asyncio.locks.Lock" in caplog.messages[0]


def test_annotated_results_replay_as_the_classes_returned(
    store: DynamoDBStore, namespace: str
) -> None:
    """A dataclass (nested, with Decimal, datetime and frozenset fields), a NamedTuple and a
    pydantic v2 model replay as equal instances of their classes, from the annotation."""
    at = datetime(2026, 12, 7, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    receipt = Receipt("o-1", [Line("a", Decimal("9.90"))], at, frozenset({"gift"}))
    refund = Refund(refund_id=uuid.uuid4(), amount=Decimal("1.10"), on=date(2026, 12, 7))

    @idempotent(lambda order: order, store=store, namespace=namespace)
    def checkout(order: str) -> Receipt:
        return receipt

    @idempotent(lambda order: order, store=store, namespace=f"{namespace}-p")
    def where(order: str) -> Point:
        return Point(Decimal("1.5"), Decimal("-2"))

    @idempotent(lambda order: order, store=store, namespace=f"{namespace}-r")
    def refund_of(order: str) -> Refund:
        return refund

    for function in (checkout, where, refund_of):
        first = function("o-1")
        replayed = function("o-1")
        assert replayed is not first
        assert type(replayed) is type(first)
        assert replayed == first
    assert where("o-1").x == Decimal("1.5")
    assert checkout("o-1").at.utcoffset() == timedelta(hours=2)


def test_result_type_rebuilds_where_there_is_no_annotation(
    store: DynamoDBStore, namespace: str
) -> None:
    """``result_type=list[Line]`` rebuilds each member; without it they replay as dicts."""

    @idempotent(lambda order: order, store=store, namespace=namespace, result_type=list[Line])
    def lines(order):  # type: ignore[no-untyped-def]  # no annotation: result_type= says it
        return [Line("a", Decimal("1")), Line("b", Decimal("2.50"))]

    @idempotent(lambda order: order, store=store, namespace=f"{namespace}-plain")
    def plain(order):  # type: ignore[no-untyped-def]
        return [Line("a", Decimal("1"))]

    assert lines("o-1") == lines("o-1")
    assert lines("o-1")[1].price == Decimal("2.50")
    plain("o-1")
    assert plain("o-1") == [{"sku": "a", "price": Decimal("1")}]


@pytest.mark.parametrize("bad", ["Receipt", 3, Line("a", Decimal(1))])
def test_result_type_must_be_a_type(bad: object) -> None:
    """A string, a number or an instance is refused at decoration, naming the option."""
    with pytest.raises(ConfigurationError, match="result_type must be a class"):
        idempotent(lambda order: order, result_type=bad)


@pytest.mark.parametrize(
    "value",
    [*UNREADABLE_RESULTS.values(), {"N": "5"}],
    ids=["binary-not-zlib", "text-not-json", "unknown-tag", "a-number"],
)
def test_an_unreadable_stored_result_is_a_typed_error_and_never_a_second_run(
    store: DynamoDBStore, namespace: str, value: dict[str, Any]
) -> None:
    """A corrupted or foreign result attribute: every duplicate gets UnreadableResultError
    naming the key (not zlib.error or JSONDecodeError), the body does not run; once the item is
    removed (what `release --force` does), the next call runs it."""
    runs = []

    @idempotent(lambda order: order, store=store, namespace=namespace)
    def charge(order: str) -> object:
        runs.append(order)
        return {"charged": order}

    charge("o-1")
    overwrite_result(store, f"{namespace}#o-1", value)

    for _ in range(2):
        with pytest.raises(UnreadableResultError, match="release") as caught:
            charge("o-1")
        assert caught.value.key == f"{namespace}#o-1"
    assert runs == ["o-1"]
    assert store.delete(f"{namespace}#o-1")
    assert charge("o-1") == {"charged": "o-1"}
    assert runs == ["o-1", "o-1"]


def test_a_failed_release_never_reads_the_new_owners_result(
    store: DynamoDBStore, namespace: str
) -> None:
    """The body raises after another owner took the key and wrote an unreadable result: the
    release is refused, and the body's own exception comes back (not a zlib error from reading
    the new owner's item)."""
    key = f"{namespace}#o-1"

    @idempotent(lambda order: order, store=store, namespace=namespace)
    def charge(order: str) -> object:
        store.client.update_item(
            TableName=store.table_name,
            Key=store.item_key(key),
            UpdateExpression="SET #owner = :other, #result = :garbage",
            ExpressionAttributeNames={
                "#owner": store.attributes.owner,
                "#result": store.attributes.result,
            },
            ExpressionAttributeValues={":other": {"S": "someone-else"}, ":garbage": {"B": b"?"}},
        )
        raise ValueError("declined")

    with pytest.raises(ValueError, match="declined"):
        charge("o-1")
    assert store.get_item(key) is not None  # the new owner's item is left alone
