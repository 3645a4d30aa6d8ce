"""Events as AWS delivers them along each path, built from documented shapes.

Each builder names its origin in a one-line ``# shape:`` comment: the AWS document whose example
event it follows, or the public library whose test event it mirrors. Values (names, ids, times)
are ours; the fields and their nesting are AWS's.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.sources_helpers import record_of

BUCKET = "user-uploads"
TOPIC_ARN = "arn:aws:sns:ap-northeast-1:123456789012:uploads"
QUEUE_ARN = "arn:aws:sqs:ap-northeast-1:123456789012:uploads"
MSK_ARN = (
    "arn:aws:kafka:us-east-1:123456789012:cluster/orders/751d2973-a626-431c-9d4e-d7975eb44dd7-2"
)
BOOTSTRAP = "b-1.orders.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092"
SNS_MESSAGE_ID = "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
CERT = "SimpleNotificationService-0000000000000000000000.pem"
SUB = f"SubscriptionArn={TOPIC_ARN}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"


def s3_record(
    key: str = "incoming/a+b.csv",
    *,
    event_name: str = "ObjectCreated:Put",
    sequencer: str = "0055AED6DCD90281E5",
    version_id: str | None = "096fKKXTRTtl3on89fVO.nfljtsv6qko",
    etag: str | None = "d41d8cd98f00b204e9800998ecf8427e",
    size: int | None = 1024,
) -> dict[str, Any]:
    """One S3 notification record (the key URL-encoded, as S3 writes it)."""
    # shape: Amazon S3 User Guide, 'Event message structure' (tests/events/s3-put.json)
    record = record_of("s3-put")
    record["eventName"] = event_name
    obj: dict[str, Any] = {"key": key, "sequencer": sequencer}
    for name, value in (("size", size), ("eTag", etag), ("versionId", version_id)):
        if value is not None:
            obj[name] = value
    record["s3"]["object"] = obj
    return record


def s3_notification(*records: dict[str, Any]) -> dict[str, Any]:
    """The S3 notification event holding ``records`` (one ``s3_record()`` by default)."""
    return {"Records": list(records) or [s3_record()]}


def sqs_record(body: str, *, message_id: str = "m-1", queue_arn: str = QUEUE_ARN) -> dict[str, Any]:
    """One SQS message carrying ``body``."""
    # shape: AWS Lambda Developer Guide, 'Using Lambda with Amazon SQS', example standard event
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1763600000000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1763600000100",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "ap-northeast-1",
    }


def sns_notification(message: str, *, message_id: str = SNS_MESSAGE_ID) -> dict[str, Any]:
    """The JSON document SNS sends a queue without raw message delivery (the SQS body)."""
    # shape: Amazon SNS Developer Guide, 'Amazon SNS message and JSON formats', notification
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC_ARN,
        "Subject": "Amazon S3 Notification",
        "Message": message,
        "Timestamp": "2026-11-20T01:02:04.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQ==",
        "SigningCertURL": f"https://sns.ap-northeast-1.amazonaws.com/{CERT}",
        "UnsubscribeURL": f"https://sns.ap-northeast-1.amazonaws.com/?Action=Unsubscribe&{SUB}",
    }


def sns_record(message: str, *, message_id: str = SNS_MESSAGE_ID) -> dict[str, Any]:
    """One SNS record as Lambda delivers it (``EventSource``, capital E)."""
    # shape: AWS Lambda Developer Guide, 'Using Lambda with Amazon SNS', example event
    return {
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{TOPIC_ARN}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
        "EventSource": "aws:sns",
        "Sns": {
            "SignatureVersion": "1",
            "Timestamp": "2026-11-20T01:02:04.000Z",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQ==",
            "SigningCertUrl": f"https://sns.ap-northeast-1.amazonaws.com/{CERT}",
            "MessageId": message_id,
            "Message": message,
            "MessageAttributes": {"Test": {"Type": "String", "Value": "TestString"}},
            "Type": "Notification",
            "UnsubscribeUrl": f"https://sns.ap-northeast-1.amazonaws.com/?Action=Unsubscribe&{SUB}",
            "TopicArn": TOPIC_ARN,
            "Subject": "Amazon S3 Notification",
        },
    }


def s3_via_sqs(notification: dict[str, Any], *, message_id: str = "m-1") -> dict[str, Any]:
    """An S3 notification sent to a queue: the whole event is the message body."""
    # shape: Amazon S3 User Guide, 'Walkthrough: Configuring a bucket for notifications (SNS/SQS)'
    return sqs_record(json.dumps(notification), message_id=message_id)


def s3_via_sns(notification: dict[str, Any]) -> dict[str, Any]:
    """An S3 notification published to a topic that invokes the function."""
    return sns_record(json.dumps(notification))


def s3_via_sns_sqs(
    notification: dict[str, Any], *, raw: bool, message_id: str = "m-1"
) -> dict[str, Any]:
    """An S3 notification through a topic to a queue, with or without raw message delivery."""
    # shape: Amazon SNS Developer Guide, 'Amazon SNS raw message delivery' (raw: the message alone)
    if raw:
        return sqs_record(json.dumps(notification), message_id=message_id)
    return sqs_record(json.dumps(sns_notification(json.dumps(notification))), message_id=message_id)


S3_TEST_EVENT: dict[str, Any] = {
    # shape: Amazon S3 User Guide, 'Event message structure', test message
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2026-11-20T01:00:00.000Z",
    "Bucket": BUCKET,
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}


def s3_eventbridge(
    key: str = "incoming/a b.csv",
    *,
    detail_type: str = "Object Created",
    reason: str = "PutObject",
    sequencer: str = "0055AED6DCD90281E5",
    version_id: str | None = "096fKKXTRTtl3on89fVO.nfljtsv6qko",
    etag: str | None = "d41d8cd98f00b204e9800998ecf8427e",
    deletion_type: str | None = None,
) -> dict[str, Any]:
    """An S3 event delivered by EventBridge: the object key is *not* URL-encoded."""
    # shape: Amazon S3 User Guide, 'Using EventBridge', EventBridge event message structure
    obj: dict[str, Any] = {"key": key, "sequencer": sequencer}
    if etag is not None:
        obj |= {"size": 1024, "etag": etag}
    if version_id is not None:
        obj["version-id"] = version_id
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": BUCKET},
        "object": obj,
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "203.0.113.10",
        "reason": reason,
    }
    if deletion_type is not None:
        detail["deletion-type"] = deletion_type
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-20T01:02:03Z",
        "region": "ap-northeast-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": detail,
    }


def scheduler_event() -> dict[str, Any]:
    """An EventBridge Scheduler schedule firing (its detail is the text ``"{}"``)."""
    # shape: Amazon EventBridge Scheduler User Guide, 'Setting a schedule's target', Lambda payload
    return {
        "version": "0",
        "id": "8f4c9e2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": "2026-11-20T03:00:00Z",
        "region": "ap-northeast-1",
        "resources": ["arn:aws:scheduler:ap-northeast-1:123456789012:schedule/default/nightly"],
        "detail": "{}",
    }


def batch_operations_event(
    version: str = "1.0", *, keys: tuple[str, ...] = ("customerImage1.jpg",)
) -> dict[str, Any]:
    """An S3 Batch Operations invocation, schema 1.0 (bucket ARN) or 2.0 (bucket name)."""
    # shape: Amazon S3 User Guide, 'Invoke AWS Lambda function' (batch-ops-invoke-lambda), examples
    tasks: list[dict[str, Any]] = []
    for n, key in enumerate(keys):
        task: dict[str, Any] = {"taskId": f"dGFza2lkZ29lc2hlcmUK{n}", "s3Key": key}
        if version == "1.0":
            task |= {"s3VersionId": "1", "s3BucketArn": f"arn:aws:s3:::{BUCKET}"}
        else:
            task |= {"s3VersionId": None, "s3Bucket": BUCKET}
        tasks.append(task)
    job: dict[str, Any] = {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"}
    if version != "1.0":
        job["userArguments"] = {"k1": "v1"}
    return {
        "invocationSchemaVersion": version,
        "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
        "job": job,
        "tasks": tasks,
    }


def kafka_record(offset: int, *, topic: str = "orders", partition: int = 0) -> dict[str, Any]:
    """One Kafka record as Lambda delivers it (key and value base64-encoded)."""
    # shape: AWS Lambda Developer Guide, 'Using Lambda with Amazon MSK', example event record
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": 1763600000000 + offset,
        "timestampType": "CREATE_TIME",
        "key": "b3JkZXItMQ==",
        "value": "eyJuIjogMH0=",
        "headers": [{"headerKey": [104, 101, 97, 100, 101, 114]}],
    }


def kafka_event(
    *records: dict[str, Any], self_managed: bool = False, bootstrap: str = BOOTSTRAP
) -> dict[str, Any]:
    """A Kafka batch, records grouped under ``topic-partition``; MSK or self-managed."""
    # shape: AWS Lambda Developer Guide, 'Using Lambda with Amazon MSK' and '... self-managed Kafka'
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(f"{record['topic']}-{record['partition']}", []).append(record)
    event: dict[str, Any] = {"bootstrapServers": bootstrap, "records": grouped}
    if self_managed:
        return {"eventSource": "SelfManagedKafka", **event}
    return {"eventSource": "aws:kafka", "eventSourceArn": MSK_ARN, **event}


def copied(value: dict[str, Any]) -> dict[str, Any]:
    """A deep copy, for a test that edits a shared shape."""
    return copy.deepcopy(value)
