"""Naming the events that cannot be processed record by record, so the error says what came.

An event without ``Records`` that is neither an S3 Batch Operations invocation nor a Kafka batch
is recognised by the fields its source always sends, and named with what to do instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from idemlock.errors import EventError

_SINGLE = "it is a single event: use @idempotent with a key function instead"

_Test = Callable[[Mapping[str, Any]], bool]

_SHAPES: list[tuple[str, _Test, str, str]] = [
    # (what it is, how to recognise it, the field that tells, what to do)
    (
        "Amazon MQ for ActiveMQ (eventSource 'aws:mq')",
        lambda e: e.get("eventSource") == "aws:mq",
        "eventSource",
        "per-record processing does not support it; key each message by its messageID",
    ),
    (
        "Amazon MQ for RabbitMQ (eventSource 'aws:rmq')",
        lambda e: e.get("eventSource") == "aws:rmq",
        "eventSource",
        "per-record processing does not support it; key each message by its messageId",
    ),
    (
        "an Amazon Data Firehose transformation",
        lambda e: "deliveryStreamArn" in e,
        "deliveryStreamArn",
        "Firehose expects every record back with a result; per-record processing does not "
        "build that response",
    ),
    (
        "an S3 Object Lambda request",
        lambda e: "getObjectContext" in e,
        "getObjectContext",
        _SINGLE,
    ),
    (
        "an API Gateway or function URL request",
        lambda e: "requestContext" in e and ("httpMethod" in e or "routeKey" in e),
        "requestContext",
        _SINGLE,
    ),
    (
        "an Application Load Balancer request",
        lambda e: "requestContext" in e,
        "requestContext",
        _SINGLE,
    ),
    (
        "an EventBridge event",
        lambda e: "detail-type" in e,
        "detail-type",
        _SINGLE + " (eventbridge.event_id, s3.notification, eventbridge.scheduled_run)",
    ),
    (
        "CloudWatch Logs data",
        lambda e: "awslogs" in e,
        "awslogs",
        _SINGLE,
    ),
]


def unsupported(event: Mapping[str, Any]) -> EventError:
    """The error for an event that per-record processing cannot take, naming what it is."""
    for what, test, path, advice in _SHAPES:
        if test(event):
            return EventError(f"the event is {what}: {advice}", path=path)
    source = event.get("eventSource", event.get("source"))
    named = f" (source {source!r:.60})" if source is not None else ""
    return EventError(
        f"the event{named} has no 'Records' list and is not an S3 Batch Operations or Kafka "
        "batch; per-record processing knows SQS, SNS, S3 (by any path), DynamoDB Streams, "
        "Kinesis, Kafka and S3 Batch Operations",
        path="Records",
    )
