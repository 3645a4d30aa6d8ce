"""sqs_orders on DynamoDB Local: every order charged once, whatever SQS delivers twice.

The lock table and the charges table are on DynamoDB Local; the events are SQS standard-queue
batches shaped like tests/events/sqs.json. Failures and pauses are injected into the handler's own
DynamoDB client, at the charge write.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

import sqs_orders.handler as app
from idemlock import DynamoDBStore, Lock, LockStatus, current_lock
from idemlock.testing import LambdaContext
from tests.aws import create_app_table, fresh_table, make_client, use_local_aws

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders"
CHARGE = "before-parameter-build.dynamodb.UpdateItem"
"""The botocore event before the handler's charge write, where the tests inject trouble."""


@dataclass
class Tables:
    """The tables of one test, on DynamoDB Local, and a client to look at them."""

    client: Any
    locks: DynamoDBStore
    charges: str


@pytest.fixture
def tables(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tables]:
    """A fresh lock table and charges table; the handler configured for them."""
    use_local_aws(monkeypatch, dynamodb_local)
    client = make_client(dynamodb_local)
    charges = create_app_table(client, "charges", "order_id")  # as template.yaml declares it
    locks = fresh_table(dynamodb_local)
    monkeypatch.setenv("IDEMLOCK_TABLE", locks.table_name)
    monkeypatch.setenv(app.CHARGES_TABLE_ENV, charges)
    app.dynamodb.cache_clear()  # a client made under this test's environment
    yield Tables(client, locks, charges)
    app.dynamodb.cache_clear()  # and none left behind, with this test's hooks


def message(order_id: str, amount: int, *, message_id: str | None = None) -> dict[str, Any]:
    """One SQS record carrying an order, as Lambda delivers it from a standard queue."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"handle-{uuid.uuid4().hex}",
        "body": json.dumps({"order_id": order_id, "amount": amount}),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1763600000000"},
        "messageAttributes": {},
        "md5OfBody": "0",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    """An SQS event of ``records``."""
    return {"Records": list(records)}


def charges_by_order(tables: Tables) -> dict[str, list[dict[str, Any]]]:
    """Every order's charges, as plain Python."""
    deserializer = TypeDeserializer()
    items = tables.client.scan(TableName=tables.charges, ConsistentRead=True)["Items"]
    return {item["order_id"]["S"]: deserializer.deserialize(item["charges"]) for item in items}


def throttled(operation: str) -> ClientError:
    """The error botocore raises for a request DynamoDB keeps throttling (after its retries)."""
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "injected by the test"}}, operation
    )


def on_charge(hook: Callable[..., None]) -> None:
    """Run ``hook(params=...)`` before each charge write of the handler."""
    app.dynamodb().meta.events.register(CHARGE, hook)


def test_a_failing_message_is_reported_alone_and_redelivery_charges_each_order_once(
    tables: Tables,
) -> None:
    """A standard queue: one message's charge fails, only it is named in batchItemFailures and
    every other message is charged; the batch delivered again whole charges only the one that
    failed, so each order has exactly one charge."""
    records = [message("o-1", 1200), message("o-2", 80), message("o-3", 4500)]
    failed: list[str] = []

    def throttle_o2_once(params: dict[str, Any], **_: Any) -> None:
        if not failed and params["Key"]["order_id"] == {"S": "o-2"}:
            failed.append("o-2")
            raise throttled("UpdateItem")

    on_charge(throttle_o2_once)

    first = app.handler(batch(*records), LambdaContext())

    assert failed == ["o-2"]
    assert first == {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]}
    assert sorted(charges_by_order(tables)) == ["o-1", "o-3"]

    assert app.handler(batch(*records), LambdaContext()) == {"batchItemFailures": []}

    charges = charges_by_order(tables)
    assert {order: len(entries) for order, entries in charges.items()} == {
        "o-1": 1,
        "o-2": 1,
        "o-3": 1,
    }
    assert [charges[order][0]["amount"] for order in ("o-1", "o-2", "o-3")] == [1200, 80, 4500]


def test_the_same_message_delivered_twice_charges_once(tables: Tables) -> None:
    """A redelivered message (same messageId) is a duplicate: one charge, and the second
    delivery succeeds without charging."""
    record = message("o-1", 1200)

    assert app.handler(batch(record), LambdaContext()) == {"batchItemFailures": []}
    assert app.handler(batch(record), LambdaContext()) == {"batchItemFailures": []}

    [charge] = charges_by_order(tables)["o-1"]
    assert charge["message_id"] == record["messageId"]


def test_an_order_sent_twice_as_two_messages_charges_once(tables: Tables) -> None:
    """The key is the order: a producer's retried send (a new messageId, the same order) is a
    duplicate too, in one batch or across batches."""
    first, resent, again = (message("o-1", 1200) for _ in range(3))

    assert app.handler(batch(first, resent), LambdaContext()) == {"batchItemFailures": []}
    assert app.handler(batch(again), LambdaContext()) == {"batchItemFailures": []}

    assert len(charges_by_order(tables)["o-1"]) == 1


def test_a_message_without_an_order_is_reported_and_the_rest_charged(tables: Tables) -> None:
    """A body that is not an order has no key: that message alone is reported (it will reach
    the dead-letter queue), the others are charged."""
    broken = message("o-2", 80) | {"body": json.dumps({"amount": 80})}
    records = [message("o-1", 1200), broken, message("o-3", 4500)]

    assert app.handler(batch(*records), LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": broken["messageId"]}]
    }
    assert sorted(charges_by_order(tables)) == ["o-1", "o-3"]


def test_an_invocation_whose_lease_was_taken_over_cannot_charge(tables: Tables) -> None:
    """The fence: an invocation stalls before its charge until its lease is over; the
    redelivery takes the key over and charges; when the stalled one resumes, the charges table
    refuses its write, its message is reported, and the order stays charged once."""
    record = message("o-1", 1200)
    stalled, resume = threading.Event(), threading.Event()
    held: list[Lock] = []

    def stall_first_charge(**_: Any) -> None:
        if not held:
            lock = current_lock()  # the hook runs inside the stalled invocation's body
            assert lock is not None
            held.append(lock)
            stalled.set()
            resume.wait(timeout=60)

    on_charge(stall_first_charge)
    outcome: dict[str, Any] = {}
    # Little time left: its lease is that plus idemlock's 2 s grace.
    slow = threading.Thread(
        target=lambda: outcome.update(app.handler(batch(record), LambdaContext(remaining_ms=100)))
    )
    slow.start()
    try:
        assert stalled.wait(timeout=60)
        time.sleep(max(0.0, held[0].lease_expires_at_ms / 1000 - time.time()) + 0.1)

        assert app.handler(batch(record), LambdaContext()) == {"batchItemFailures": []}
    finally:
        resume.set()
        slow.join(timeout=60)

    assert outcome == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    [charge] = charges_by_order(tables)["o-1"]
    assert charge["fence"] > held[0].fence
    [lock] = tables.locks.scan()
    assert lock.status is LockStatus.COMPLETED
    assert lock.fence == charge["fence"]
