"""``@idempotent_records`` over the delivered shapes of issue 13: S3 through a queue or topic,
S3's test message, SNS, Kafka, S3 Batch Operations, and the sources it cannot process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from idemlock import idempotent_records
from idemlock.batch import RecordStatus
from idemlock.errors import BatchFailedError, EventError
from idemlock.item import LockStatus
from idemlock.sources import s3, s3_batch
from idemlock.testing import LambdaContext, MemoryStore
from tests.aws import fresh_table
from tests.delivered_events import (
    BOOTSTRAP,
    MSK_ARN,
    S3_TEST_EVENT,
    batch_operations_event,
    kafka_event,
    kafka_record,
    s3_notification,
    s3_record,
    s3_via_sns_sqs,
    s3_via_sqs,
    sns_record,
    sqs_record,
)

EventRecord = dict[str, Any]


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


# --- S3 through SQS ------------------------------------------------------------------------------


def test_one_notification_in_two_messages_runs_once_on_dynamodb_local(dynamodb_local: str) -> None:
    """On DynamoDB Local: S3 delivered one notification twice to the queue (two messages, two
    ids); keyed by s3.object_key, it runs once, and a failure is reported by its SQS message id."""
    store = fresh_table(dynamodb_local)
    ran: list[str] = []

    @idempotent_records(s3.object_key, store=store, namespace="import")
    def handle(record: EventRecord, context: object) -> str:
        key = s3.S3Object.from_record(record).key
        ran.append(key)
        if key == "bad.csv":
            raise ValueError("row 3 is malformed")
        return key

    same = s3_notification(s3_record("a.csv"))
    event = {
        "Records": [
            s3_via_sqs(same, message_id="m-1"),
            s3_via_sns_sqs(same, raw=False, message_id="m-2"),  # the same object, via a topic
            s3_via_sqs(s3_notification(s3_record("bad.csv")), message_id="m-3"),
        ]
    }

    outcome = handle.process(event, LambdaContext())

    assert ran == ["a.csv", "bad.csv"]
    assert [o.status for o in outcome.records] == [
        RecordStatus.COMPLETED,
        RecordStatus.DUPLICATE,
        RecordStatus.FAILED,
    ]
    assert failed_ids(outcome.response()) == ["m-3"]
    assert handle(event, LambdaContext()) == {"batchItemFailures": [{"itemIdentifier": "m-3"}]}
    assert ran == ["a.csv", "bad.csv", "bad.csv"]
    assert {(r.key, r.status) for r in store.scan(prefix="import#")} == {
        ("import#user-uploads/a.csv", LockStatus.COMPLETED)
    }


def test_s3_test_event_is_acknowledged_without_the_handler() -> None:
    """S3's s3:TestEvent in a queue: no handler call, no claim, no failure; the rest run."""
    store = MemoryStore()
    ran: list[str] = []
    handler = idempotent_records(s3.object_key, store=store)(
        lambda record, context: ran.append(record["messageId"])
    )
    event = {
        "Records": [
            sqs_record(json.dumps(S3_TEST_EVENT), message_id="test"),
            s3_via_sqs(s3_notification(), message_id="m-1"),
        ]
    }

    outcome = handler.process(event, LambdaContext())

    assert ran == ["m-1"]
    assert [o.status for o in outcome.records] == [
        RecordStatus.ACKNOWLEDGED,
        RecordStatus.COMPLETED,
    ]
    assert outcome.response() == {"batchItemFailures": []}
    assert store.calls.total() == 2  # the claim and the complete of m-1 only


def test_a_batch_of_only_test_events_succeeds_whatever_the_key(monkeypatch: Any) -> None:
    """With the default key too (the message id), and through a topic, the test message is
    acknowledged; with idempotency disabled as well."""
    ran: list[object] = []
    handler = idempotent_records(store=MemoryStore())(lambda record, context: ran.append(record))
    event = {"Records": [s3_via_sns_sqs(S3_TEST_EVENT, raw=False)]}
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    sns_event = {"Records": [sns_record(json.dumps(S3_TEST_EVENT))]}
    assert handler(sns_event, LambdaContext()) == {"batchItemFailures": []}
    monkeypatch.setenv("IDEMLOCK_DISABLED", "1")
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert ran == []


# --- S3 direct: the default key ------------------------------------------------------------------


def test_a_delete_after_a_create_runs_on_dynamodb_local(dynamodb_local: str) -> None:
    """On DynamoDB Local: the default S3 key is per notification; a function subscribed to
    creates and deletes runs the delete (the old default, bucket/key, skipped it for 24 h), and a
    duplicate delivery of the create is still skipped."""
    store = fresh_table(dynamodb_local)
    ran: list[str] = []
    handler = idempotent_records(store=store, namespace="mirror")(
        lambda record, context: ran.append(record["eventName"])
    )
    created = s3_notification(s3_record(sequencer="0055AED6DCD90281E5"))
    deleted = s3_notification(
        s3_record(event_name="ObjectRemoved:Delete", sequencer="0055AED6DCD90281F0", etag=None)
    )

    for event in (created, deleted, created):
        assert handler(event, LambdaContext()) == {"batchItemFailures": []}

    assert ran == ["ObjectCreated:Put", "ObjectRemoved:Delete"]


# --- SNS -----------------------------------------------------------------------------------------


def test_sns_records_run_once_by_message_id() -> None:
    """SNS: the handler gets the record as delivered; a redelivery (same MessageId) is skipped."""
    store = MemoryStore()
    seen: list[EventRecord] = []
    handler = idempotent_records(store=store, namespace="n")(
        lambda record, context: seen.append(record)
    )
    event = {"Records": [sns_record("hello", message_id="sns-1")]}

    handler(event, LambdaContext())
    handler(event, LambdaContext())

    assert seen == [event["Records"][0]]
    assert [r.key for r in store.scan(prefix="n#")] == ["n#sns-1"]


def test_a_failed_sns_record_fails_the_invocation() -> None:
    """SNS has no partial batch response: a failure raises, so Lambda retries the event."""

    def fail(record: EventRecord, context: object) -> None:
        raise RuntimeError("downstream down")

    handler = idempotent_records(store=MemoryStore())(fail)
    with pytest.raises(BatchFailedError, match="downstream down"):
        handler({"Records": [sns_record("hello")]}, LambdaContext())


# --- Kafka ---------------------------------------------------------------------------------------


def test_kafka_default_key_is_cluster_topic_partition_offset() -> None:
    """Each record as delivered; keyed cluster/topic/partition/offset."""
    store = MemoryStore()
    seen: list[EventRecord] = []
    handler = idempotent_records(store=store, namespace="k")(
        lambda record, context: seen.append(record)
    )
    event = kafka_event(kafka_record(15), kafka_record(16), kafka_record(3, partition=1))

    assert handler(event, LambdaContext()) == {"batchItemFailures": []}

    assert seen == [kafka_record(15), kafka_record(16), kafka_record(3, partition=1)]
    assert sorted(r.key for r in store.scan(prefix="k#")) == [
        f"k#{MSK_ARN}/orders/0/15",
        f"k#{MSK_ARN}/orders/0/16",
        f"k#{MSK_ARN}/orders/1/3",
    ]


def test_one_offset_on_two_clusters_is_two_records() -> None:
    """Self-managed clusters are told apart by their bootstrap servers; MSK by its ARN."""
    store = MemoryStore()
    ran: list[str] = []
    handler = idempotent_records(store=store)(lambda record, context: ran.append("run"))
    for event in (
        kafka_event(kafka_record(15)),
        kafka_event(kafka_record(15), self_managed=True),
        kafka_event(kafka_record(15), self_managed=True, bootstrap="other:9092"),
        kafka_event(kafka_record(15), self_managed=True),
    ):
        handler(event, LambdaContext())
    assert ran == ["run"] * 3
    assert any(r.key.endswith(f"{BOOTSTRAP}/orders/0/15") for r in store.scan())


def test_kafka_stops_at_the_first_failure_and_fails_the_batch_on_dynamodb_local(
    dynamodb_local: str,
) -> None:
    """On DynamoDB Local: a failure stops the batch (partitions are ordered) and raises, so
    Lambda retries the whole batch, as it does for Kafka; the retry skips what completed."""
    store = fresh_table(dynamodb_local)
    ran: list[int] = []
    failing = {16}

    @idempotent_records(store=store, namespace="orders")
    def handle(record: EventRecord, context: object) -> None:
        ran.append(record["offset"])
        if record["offset"] in failing:
            raise RuntimeError(f"offset {record['offset']}")

    event = kafka_event(kafka_record(15), kafka_record(16), kafka_record(17))
    with pytest.raises(BatchFailedError) as caught:
        handle(event, LambdaContext())
    assert [o.status for o in caught.value.outcome.records] == [
        RecordStatus.COMPLETED,
        RecordStatus.FAILED,
        RecordStatus.NOT_RUN,
    ]
    failing.clear()
    assert handle(event, LambdaContext()) == {"batchItemFailures": []}
    assert ran == [15, 16, 16, 17]


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ({**kafka_event(kafka_record(1)), "records": {}}, "records"),
        ({**kafka_event(kafka_record(1)), "records": {"t-0": []}}, "records.t-0"),
        ({**kafka_event(kafka_record(1)), "records": {"t-0": ["x"]}}, "records.t-0[0]"),
        ({"eventSource": "SelfManagedKafka", "records": {"t-0": [{}]}}, "bootstrapServers"),
    ],
)
def test_malformed_kafka_events_are_event_errors(event: dict[str, Any], path: str) -> None:
    """A Kafka event without records, or a record that is not a mapping, is an EventError."""
    with pytest.raises(EventError) as caught:
        idempotent_records(store=MemoryStore())(lambda record, context: None)(event)
    assert caught.value.path == path


# --- S3 Batch Operations -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_batch_operations_response_on_dynamodb_local(dynamodb_local: str, version: str) -> None:
    """On DynamoDB Local, schema 1.0 and 2.0: the handler gets each task as delivered and the
    response is S3's: Succeeded (the result as resultString), TemporaryFailure when the body
    raises, PermanentFailure when it raises PermanentFailure; a duplicate is Succeeded with the
    stored result."""
    store = fresh_table(dynamodb_local)
    seen: list[EventRecord] = []

    @idempotent_records(store=store, namespace="reprocess")
    def handle(task: EventRecord, context: object) -> Any:
        seen.append(task)
        key = s3.S3Object.from_record(task).key
        if key == "flaky.jpg":
            raise TimeoutError("thumbnail service timed out")
        if key == "gone.jpg":
            raise s3_batch.PermanentFailure("object is in Glacier")
        return {"thumbnail": f"thumbs/{key}"}

    event = batch_operations_event(version, keys=("a+b.jpg", "flaky.jpg", "gone.jpg"))
    tasks = event["tasks"]

    response = handle(event, LambdaContext())

    assert seen == tasks
    assert response == {
        "invocationSchemaVersion": version,
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event["invocationId"],
        "results": [
            {
                "taskId": tasks[0]["taskId"],
                "resultCode": "Succeeded",
                "resultString": '{"thumbnail":"thumbs/a b.jpg"}',
            },
            {
                "taskId": tasks[1]["taskId"],
                "resultCode": "TemporaryFailure",
                "resultString": "TimeoutError: thumbnail service timed out",
            },
            {
                "taskId": tasks[2]["taskId"],
                "resultCode": "PermanentFailure",
                "resultString": "PermanentFailure: object is in Glacier",
            },
        ],
    }
    again = handle(batch_operations_event(version, keys=("a+b.jpg",)), LambdaContext())
    assert again["results"] == [response["results"][0]]  # the stored result, not a second run
    assert len(seen) == 3
    job = event["job"]["id"]
    assert [r.key for r in store.scan(prefix="reprocess#")] == [
        f"reprocess#{job}/{tasks[0]['taskId']}"
    ]


def test_a_malformed_task_is_a_permanent_failure() -> None:
    """A task without its key fields can never succeed: PermanentFailure, the others run."""
    ran: list[str] = []

    @idempotent_records(s3.object_version, store=MemoryStore())
    def handler(task: EventRecord, context: object) -> str:
        ran.append(task["taskId"])
        return "ok"

    event = batch_operations_event("1.0", keys=("a.jpg", "b.jpg"))
    del event["tasks"][0]["s3BucketArn"]

    response = handler(event, LambdaContext())

    assert [r["resultCode"] for r in response["results"]] == ["PermanentFailure", "Succeeded"]
    assert "s3BucketArn" in response["results"][0]["resultString"]
    assert ran == [event["tasks"][1]["taskId"]]


def test_tasks_keyed_by_object_version_skip_objects_an_earlier_job_processed() -> None:
    """s3.object_version keys a task (its key URL-decoded): a second job skips the object."""
    store = MemoryStore()
    ran: list[str] = []
    handler = idempotent_records(s3.object_version, store=store, namespace="v")(
        lambda task, context: ran.append(task["s3Key"])
    )
    first = batch_operations_event("1.0", keys=("a+b.jpg",))
    second = batch_operations_event("1.0", keys=("a+b.jpg",))
    second["job"]["id"] = "another-job"
    handler(first, LambdaContext())
    assert handler(second, LambdaContext())["results"][0]["resultCode"] == "Succeeded"
    assert ran == ["a+b.jpg"]
    assert [r.key for r in store.scan(prefix="v#")] == ["v#user-uploads/a b.jpg@1"]


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ({**batch_operations_event(), "tasks": []}, "tasks"),
        ({**batch_operations_event(), "tasks": ["x"]}, "tasks[0]"),
        ({**batch_operations_event(), "job": {}}, "job.id"),
        ({**batch_operations_event(), "invocationId": 42}, "invocationId"),
        ({**batch_operations_event(), "invocationId": ""}, "invocationId"),
        ({**batch_operations_event(), "invocationId": None}, "invocationId"),
        ({**batch_operations_event(), "invocationSchemaVersion": 1.0}, "invocationSchemaVersion"),
        ({**batch_operations_event(), "invocationSchemaVersion": ""}, "invocationSchemaVersion"),
    ],
    ids=[
        "no-tasks",
        "task-not-a-mapping",
        "no-job-id",
        "numeric-invocation-id",
        "empty-invocation-id",
        "null-invocation-id",
        "numeric-schema-version",
        "empty-schema-version",
    ],
)
def test_malformed_invocations_are_event_errors_before_any_task_runs(
    event: dict[str, Any], path: str
) -> None:
    """An invocation the response cannot be built for (no tasks, no job id, an invocationId or
    invocationSchemaVersion that is not a non-empty string) is an EventError naming the field,
    raised before any task is claimed or run: else every retry would run and complete the tasks
    and then fail again."""
    store = MemoryStore()
    ran: list[object] = []
    with pytest.raises(EventError) as caught:
        idempotent_records(store=store)(lambda task, context: ran.append(task))(event)
    assert caught.value.path == path
    assert ran == []
    assert list(store.scan()) == []


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_a_task_without_its_bucket_names_both_bucket_fields(version: str) -> None:
    """A task names its bucket in s3BucketArn (schema 1.0) or s3Bucket (2.0): one without either
    is an EventError naming both, whichever schema the invocation has."""
    task = batch_operations_event(version)["tasks"][0]
    task.pop("s3BucketArn", None)
    task.pop("s3Bucket", None)
    with pytest.raises(EventError) as caught:
        s3.object_key(task)
    assert "'s3Bucket'" in str(caught.value)
    assert "'s3BucketArn'" in str(caught.value)


def test_a_task_without_s3_key_names_the_task_field() -> None:
    """A task without s3Key is a PermanentFailure whose message names s3Key, the field of the task
    format, not a path of S3 notifications (s3.bucket.name)."""

    @idempotent_records(s3.object_key, store=MemoryStore())
    def handler(task: EventRecord, context: object) -> str:
        return "ok"

    event = batch_operations_event("2.0", keys=("a.jpg", "b.jpg"))
    del event["tasks"][0]["s3Key"]

    response = handler(event, LambdaContext())

    assert [r["resultCode"] for r in response["results"]] == ["PermanentFailure", "Succeeded"]
    assert "at s3Key" in response["results"][0]["resultString"]
    with pytest.raises(EventError) as caught:
        s3.object_key(event["tasks"][0])
    assert caught.value.path == "s3Key"


# --- unsupported sources -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "named", "path"),
    [
        # shape: AWS Lambda Developer Guide, 'Using Lambda with Amazon MQ', example ActiveMQ event
        (
            {
                "eventSource": "aws:mq",
                "eventSourceArn": "arn:aws:mq:us-east-1:123456789012:broker:b:b-1",
                "messages": [{"messageID": "ID:b-1", "data": "QUJD"}],
            },
            "ActiveMQ",
            "eventSource",
        ),
        # shape: AWS Lambda Developer Guide, 'Using Lambda with Amazon MQ', example RabbitMQ event
        (
            {"eventSource": "aws:rmq", "rmqMessagesByQueue": {"q::/": [{"data": "QUJD"}]}},
            "RabbitMQ",
            "eventSource",
        ),
        # shape: AWS Lambda Developer Guide, 'Using Lambda with Amazon API Gateway', REST proxy
        (
            {"resource": "/", "httpMethod": "GET", "requestContext": {}, "body": None},
            "API Gateway",
            "requestContext",
        ),
        # shape: AWS Lambda Developer Guide, 'Lambda function URLs', request payload (2.0)
        (
            {"version": "2.0", "routeKey": "$default", "requestContext": {"http": {}}},
            "API Gateway",
            "requestContext",
        ),
        # shape: Amazon S3 User Guide, 'Event context format and usage' (S3 Object Lambda)
        (
            {"xAmzRequestId": "1", "getObjectContext": {"outputRoute": "r"}, "configuration": {}},
            "S3 Object Lambda",
            "getObjectContext",
        ),
        # shape: Amazon Data Firehose Developer Guide, 'Transform source data', input event
        (
            {
                "invocationId": "i",
                "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/d",
                "records": [{"recordId": "r", "data": "QUJD"}],
            },
            "Firehose",
            "deliveryStreamArn",
        ),
        ({"detail-type": "Object Created", "source": "aws.s3"}, "EventBridge", "detail-type"),
        ({"awslogs": {"data": "H4sI"}}, "CloudWatch Logs", "awslogs"),
        ({"anything": 1}, "no 'Records'", "Records"),
    ],
    ids=[
        "mq",
        "rmq",
        "api-rest",
        "function-url",
        "object-lambda",
        "firehose",
        "eventbridge",
        "logs",
        "unknown",
    ],
)
def test_unsupported_sources_are_named(event: dict[str, Any], named: str, path: str) -> None:
    """An event per-record processing cannot take is an EventError naming what it is."""
    with pytest.raises(EventError) as caught:
        idempotent_records(store=MemoryStore())(lambda record, context: None)(event)
    assert named in str(caught.value)
    assert caught.value.path == path
