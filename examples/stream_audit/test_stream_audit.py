"""stream_audit on DynamoDB Local: real stream records of a real table, each audited exactly once.

The test writes to an orders table whose stream is on, reads the stream back and hands its records
to the handler in the shape Lambda delivers them; the lock table and the audit table are on
DynamoDB Local too. A failure is injected into the handler's own DynamoDB client, at the audit
write of one chosen record, the first time only: what a throttled write looks like.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

import stream_audit.handler as app
from idemlock.testing import LambdaContext
from tests.aws import REGION, fresh_table, make_client, use_local_aws


@dataclass
class Tables:
    """The tables of one test, on DynamoDB Local, and a client to look at them."""

    client: Any
    streams: Any
    orders: str
    audit: str
    stream_arn: str


@pytest.fixture
def tables(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tables]:
    """Fresh lock, orders (stream on) and audit tables; the handler configured for them."""
    use_local_aws(monkeypatch, dynamodb_local)
    client = make_client(dynamodb_local)
    suffix = uuid.uuid4().hex[:12]
    orders, audit = f"orders-{suffix}", f"audit-{suffix}"
    created = client.create_table(
        TableName=orders,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    # The audit table as template.yaml declares it.
    client.create_table(
        TableName=audit,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "entity", "AttributeType": "S"},
            {"AttributeName": "audit_id", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "entity", "KeyType": "HASH"},
            {"AttributeName": "audit_id", "KeyType": "RANGE"},
        ],
    )
    monkeypatch.setenv("IDEMLOCK_TABLE", fresh_table(dynamodb_local).table_name)
    monkeypatch.setenv(app.AUDIT_TABLE_ENV, audit)
    streams = boto3.session.Session().client(
        "dynamodbstreams",
        endpoint_url=dynamodb_local,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    app.dynamodb.cache_clear()  # a client made under this test's environment
    yield Tables(client, streams, orders, audit, created["TableDescription"]["LatestStreamArn"])
    app.dynamodb.cache_clear()  # and none left behind, with this test's failure hooks


def stream_batch(tables: Tables) -> dict[str, Any]:
    """Every record of the orders stream so far, as one Lambda event, in stream order."""
    records: list[dict[str, Any]] = []
    shards = tables.streams.describe_stream(StreamArn=tables.stream_arn)["StreamDescription"]
    for shard in shards["Shards"]:
        iterator = tables.streams.get_shard_iterator(
            StreamArn=tables.stream_arn,
            ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        while iterator:
            page = tables.streams.get_records(ShardIterator=iterator)
            if not page["Records"]:
                break
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator")
    for record in records:
        # What Lambda adds or writes differently: the stream's ARN, and the creation time as
        # epoch seconds (botocore parses it into a datetime).
        record["eventSourceARN"] = tables.stream_arn
        data = record["dynamodb"]
        data["ApproximateCreationDateTime"] = int(data["ApproximateCreationDateTime"].timestamp())
    return {"Records": records}


def audit_entries(tables: Tables) -> list[dict[str, Any]]:
    """Every entry of the audit table, as plain Python, in stream order."""
    deserializer = TypeDeserializer()
    items = tables.client.scan(TableName=tables.audit, ConsistentRead=True)["Items"]
    entries = [{k: deserializer.deserialize(v) for k, v in item.items()} for item in items]
    return sorted(entries, key=lambda entry: int(entry["sequence_number"]))


def throttled(operation: str) -> ClientError:
    """The error botocore raises for a request DynamoDB keeps throttling (after its retries)."""
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "injected by the test"}}, operation
    )


def fail_once(when: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Make the handler's first audit write whose parameters match ``when`` fail (throttled).

    Returns the list of writes failed so far, to check the failure did happen.
    """
    failed: list[dict[str, Any]] = []

    def throttle(params: dict[str, Any], **_: Any) -> None:
        if not failed and when(params):
            failed.append(params)
            raise throttled("PutItem")

    app.dynamodb().meta.events.register("before-parameter-build.dynamodb.PutItem", throttle)
    return failed


def put_order(tables: Tables, order_id: str, **attributes: str) -> None:
    """Create an order, with string attributes."""
    item = {"id": {"S": order_id}} | {name: {"S": value} for name, value in attributes.items()}
    tables.client.put_item(TableName=tables.orders, Item=item)


def test_insert_modify_and_remove_are_audited_with_what_changed(tables: Tables) -> None:
    """An insert logs the item, a modify only the changed attributes (added and removed ones
    included, each side present only where the attribute existed), a remove the old item."""
    tables.client.put_item(
        TableName=tables.orders,
        Item={
            "id": {"S": "o-1"},
            "status": {"S": "new"},
            "total": {"N": "12.50"},
            "note": {"S": "leave at the door"},
        },
    )
    tables.client.update_item(
        TableName=tables.orders,
        Key={"id": {"S": "o-1"}},
        UpdateExpression="SET #status = :paid, paid_at = :at REMOVE note",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":paid": {"S": "paid"}, ":at": {"S": "2026-11-20T10:00:00Z"}},
    )
    tables.client.delete_item(TableName=tables.orders, Key={"id": {"S": "o-1"}})

    assert app.handler(stream_batch(tables), LambdaContext()) == {"batchItemFailures": []}

    inserted, modified, removed = audit_entries(tables)
    entity = f"{tables.orders}#id=o-1"
    assert {entry["entity"] for entry in (inserted, modified, removed)} == {entity}
    assert [inserted["event"], modified["event"], removed["event"]] == [
        "INSERT",
        "MODIFY",
        "REMOVE",
    ]
    assert inserted["item"] == {
        "id": "o-1",
        "status": "new",
        "total": Decimal("12.50"),
        "note": "leave at the door",
    }
    assert modified["changes"] == {
        "status": {"old": "new", "new": "paid"},
        "paid_at": {"new": "2026-11-20T10:00:00Z"},
        "note": {"old": "leave at the door"},
    }
    assert "item" not in modified
    assert removed["item"] == {
        "id": "o-1",
        "status": "paid",
        "total": Decimal("12.50"),
        "paid_at": "2026-11-20T10:00:00Z",
    }
    assert {entry["keys"]["id"] for entry in (inserted, modified, removed)} == {"o-1"}


def test_a_failed_record_stops_the_batch_and_redelivery_audits_each_change_once(
    tables: Tables,
) -> None:
    """The record whose audit write fails is the one reported; the records after it do not run;
    the batch delivered again (and once more) leaves exactly one entry per stream record."""
    put_order(tables, "o-1", status="new")
    put_order(tables, "o-2", status="new")
    put_order(tables, "o-1", status="paid")
    put_order(tables, "o-2", status="cancelled")
    tables.client.delete_item(TableName=tables.orders, Key={"id": {"S": "o-2"}})
    batch = stream_batch(tables)
    sequence = [record["dynamodb"]["SequenceNumber"] for record in batch["Records"]]
    assert [record["eventName"] for record in batch["Records"]] == [
        "INSERT",
        "INSERT",
        "MODIFY",
        "MODIFY",
        "REMOVE",
    ]
    failed = fail_once(lambda params: params["Item"]["sequence_number"] == {"S": sequence[2]})

    first = app.handler(batch, LambdaContext())

    assert len(failed) == 1
    assert first == {"batchItemFailures": [{"itemIdentifier": sequence[2]}]}
    assert [entry["sequence_number"] for entry in audit_entries(tables)] == sequence[:2]

    assert app.handler(batch, LambdaContext()) == {"batchItemFailures": []}
    assert app.handler(batch, LambdaContext()) == {"batchItemFailures": []}

    entries = audit_entries(tables)
    assert Counter(entry["sequence_number"] for entry in entries) == Counter(sequence)
    assert [entry["event"] for entry in entries] == [
        "INSERT",
        "INSERT",
        "MODIFY",
        "MODIFY",
        "REMOVE",
    ]
    assert entries[2]["changes"] == {"status": {"old": "new", "new": "paid"}}
