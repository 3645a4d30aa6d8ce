"""The Lambda handler (``stream_audit.handler.handler``): one audit entry per change, exactly once.

The audited table's stream (``NEW_AND_OLD_IMAGES``) triggers the function; every record becomes
one entry in the audit table:

- ``INSERT``: the new item;
- ``MODIFY``: the attributes that changed, each with its old and new value (absent on the side
  where the attribute did not exist);
- ``REMOVE``: the item as it was.

Lambda delivers stream records at least once: after a failed record it delivers the batch again
from that record (``ReportBatchItemFailures``), and after a timeout or a crash the whole batch.
An entry gets a fresh ID when it is written (the log is append-only, ordered by the time of
writing), so writing it twice would log the change twice. :class:`~idemlock.StreamDispatcher`
runs each record's handlers once to completion per stream record, keyed by
``streamARN#SequenceNumber`` under :data:`NAMESPACE`.

Configuration (the environment, as deployed): ``IDEMLOCK_TABLE`` (the lock table) and
``AUDIT_TABLE``. The DynamoDB client is made on first use, so ``AWS_ENDPOINT_URL_DYNAMODB`` set by
a test or a local run is honoured.
"""

from __future__ import annotations

import base64
import functools
import os
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import boto3
from boto3.dynamodb.types import TypeSerializer

from idemlock import StreamDispatcher, StreamRecord
from idemlock.sources.dynamodb_streams import ABSENT, Change

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NAMESPACE: Final = "stream-audit"
"""Prefix of this function's keys in the lock table; fixed, so a refactoring keeps them."""

AUDIT_TABLE_ENV: Final = "AUDIT_TABLE"
"""The environment variable naming the audit table."""

AUDIT_TABLE_ACTIONS: Final = ("dynamodb:PutItem",)
"""Everything this module does to the audit table: the function's role needs exactly this."""

dispatcher = StreamDispatcher(namespace=NAMESPACE)

_serializer = TypeSerializer()


@functools.cache
def dynamodb() -> DynamoDBClient:
    """The DynamoDB client, made on first use and kept for the warm container's later calls."""
    return boto3.client("dynamodb")


@dispatcher.on_insert
def audit_insert(record: StreamRecord) -> None:
    """An item was created: log it whole."""
    put_entry(record, item=record.new)


@dispatcher.on_modify
def audit_modify(record: StreamRecord) -> None:
    """An item changed: log the attributes that changed, before and after."""
    changed = record.changed
    if changed is None:  # a stream without both images cannot say: log the item as it is now
        put_entry(record, item=record.new)
        return
    changes = {name: change_entry(change) for name, change in changed.items()}
    put_entry(record, changes=changes)


@dispatcher.on_remove
def audit_remove(record: StreamRecord) -> None:
    """An item was deleted: log it as it was."""
    put_entry(record, item=record.old)


handler = dispatcher.dispatch
"""The Lambda handler: ``handler(event, context)`` returns the partial batch response."""


def put_entry(record: StreamRecord, **details: Any) -> None:
    """Write the audit entry of ``record``, with its event's ``details`` (``None`` left out)."""
    table = source_table(record)
    now = datetime.now(timezone.utc)
    entry: dict[str, Any] = {
        # The audited item's history is one partition, read in the order it was written.
        "entity": f"{table}#{key_text(record.keys)}",
        "audit_id": f"{now.isoformat(timespec='microseconds')}#{uuid.uuid4().hex}",
        "event": record.event_name,
        "table": table,
        "keys": record.keys,
        "sequence_number": record.sequence_number,
        "recorded_at": now.isoformat(),
    }
    if record.created_at is not None:
        entry["changed_at"] = record.created_at.isoformat()
    entry.update((name, value) for name, value in details.items() if value is not None)
    dynamodb().put_item(
        TableName=os.environ[AUDIT_TABLE_ENV],
        Item={name: _serializer.serialize(value) for name, value in entry.items()},
    )


def change_entry(change: Change) -> dict[str, Any]:
    """``{"old": ..., "new": ...}``, leaving out the side where the attribute did not exist."""
    return {side: value for side, value in change._asdict().items() if value is not ABSENT}


def source_table(record: StreamRecord) -> str:
    """The audited table's name, from the stream ARN (``arn:...:table/NAME/stream/TIME``)."""
    arn = str(record.raw["eventSourceARN"])
    return arn.split(":table/", 1)[1].split("/", 1)[0]


def key_text(keys: Mapping[str, Any]) -> str:
    """The item's primary key as text (``id=o-1``; ``pk=a#sk=2`` for a composite key)."""
    return "#".join(f"{name}={_key_value(keys[name])}" for name in sorted(keys))


def _key_value(value: object) -> str:
    """A key attribute (S, N or B) as text: binary as base64, numbers as DynamoDB writes them."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
