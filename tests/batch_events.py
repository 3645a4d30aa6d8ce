"""Builders of batch events in the shapes AWS delivers, for the batch and dispatcher tests."""

from __future__ import annotations

import base64
import json
from typing import Any

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders"


def sqs_event(count: int, *, fifo: bool = False, prefix: str = "m") -> dict[str, Any]:
    """An SQS batch of ``count`` messages whose bodies are ``{"n": i}``."""
    arn = QUEUE_ARN + (".fifo" if fifo else "")
    records = []
    for n in range(count):
        attributes: dict[str, str] = {"ApproximateReceiveCount": "1"}
        if fifo:
            attributes |= {"MessageGroupId": "g1", "SequenceNumber": str(10**19 + n)}
        records.append(
            {
                "messageId": f"{prefix}-{n}",
                "receiptHandle": f"handle-{n}",
                "body": json.dumps({"n": n}),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def stream_event(count: int, *, first_sequence: int = 100) -> dict[str, Any]:
    """A DynamoDB stream batch: ``count`` MODIFY records of item ``n`` (``v`` goes 0 → n)."""
    records = []
    for n in range(count):
        records.append(
            {
                "eventID": f"e{n}",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM_ARN,
                "dynamodb": {
                    "Keys": {"id": {"S": f"item-{n}"}},
                    "OldImage": {"id": {"S": f"item-{n}"}, "v": {"N": "0"}},
                    "NewImage": {"id": {"S": f"item-{n}"}, "v": {"N": str(n)}},
                    "SequenceNumber": str(first_sequence + n),
                    "SizeBytes": 40,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
        )
    return {"Records": records}


def kinesis_event(count: int) -> dict[str, Any]:
    """A Kinesis batch of ``count`` records whose data is ``{"n": i}``."""
    records = []
    for n in range(count):
        sequence = str(4960000000000000000 + n)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "p",
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(json.dumps({"n": n}).encode()).decode(),
                    "approximateArrivalTimestamp": 1763600000.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "eventSourceARN": KINESIS_ARN,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def s3_event(*keys: str, bucket: str = "uploads") -> dict[str, Any]:
    """An S3 notification with one ObjectCreated record per (URL-encoded) key."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-20T01:02:03.456Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": 10, "eTag": f"etag-{n}", "sequencer": f"0{n}"},
                },
            }
            for n, key in enumerate(keys)
        ]
    }


def number(record: dict[str, Any]) -> int:
    """The ``n`` of any record these builders make."""
    if record["eventSource"] == "aws:sqs":
        return int(json.loads(record["body"])["n"])
    if record["eventSource"] == "aws:kinesis":
        return int(json.loads(base64.b64decode(record["kinesis"]["data"]))["n"])
    if record["eventSource"] == "aws:dynamodb":
        return int(record["dynamodb"]["NewImage"]["v"]["N"])
    raise ValueError(record["eventSource"])
