"""S3 notifications by every path (direct, SQS, SNS, SNS→SQS, EventBridge) and the three keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from idemlock.errors import EventError
from idemlock.sources import s3
from tests.delivered_events import (
    S3_TEST_EVENT,
    copied,
    s3_eventbridge,
    s3_notification,
    s3_record,
    s3_via_sns,
    s3_via_sns_sqs,
    s3_via_sqs,
    sns_record,
    sqs_record,
)

NAME = "user-uploads/incoming/a b.csv"
VERSION = "096fKKXTRTtl3on89fVO.nfljtsv6qko"
SEQUENCER = "0055AED6DCD90281E5"

KEY_FUNCTIONS = [s3.object_key, s3.object_version, s3.notification]


def _paths(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One S3 record delivered by each path, as a lone record and as a whole event."""
    notification = s3_notification(record)
    carried = {
        "direct": record,
        "sqs": s3_via_sqs(notification),
        "sns": s3_via_sns(notification),
        "sns-sqs": s3_via_sns_sqs(notification, raw=False),
        "sns-sqs-raw": s3_via_sns_sqs(notification, raw=True),
    }
    return carried | {f"{path}-event": {"Records": [r]} for path, r in carried.items()}


PATHS = _paths(s3_record())


@pytest.mark.parametrize("key_fn", KEY_FUNCTIONS)
@pytest.mark.parametrize("path", sorted(PATHS))
def test_every_path_gives_the_same_key(path: str, key_fn: Callable[..., str]) -> None:
    """The same notification gives the same key whichever path it took, event or record."""
    assert key_fn(PATHS[path]) == key_fn(s3_record())


@pytest.mark.parametrize("key_fn", KEY_FUNCTIONS)
def test_eventbridge_gives_the_same_key_as_a_notification(key_fn: Callable[..., str]) -> None:
    """S3's EventBridge event of the same object (key written as is) keys like the notification."""
    assert key_fn(s3_eventbridge("incoming/a b.csv")) == key_fn(s3_record("incoming/a+b.csv"))


def test_the_three_keys() -> None:
    """Per object name, per version, per notification (kind and sequencer)."""
    record = s3_record()
    assert s3.object_key(record) == NAME
    assert s3.object_version(record) == f"{NAME}@{VERSION}"
    assert s3.notification(record) == f"{NAME}#ObjectCreated#{SEQUENCER}"


def test_a_delete_after_a_create_has_another_notification_key() -> None:
    """The bug: one name, two kinds of event; only object_key merges them."""
    created = s3_record(sequencer="0055AED6DCD90281E5")
    deleted = s3_record(
        event_name="ObjectRemoved:Delete", sequencer="0055AED6DCD90281F0", etag=None, size=None
    )
    assert s3.object_key(created) == s3.object_key(deleted)
    assert s3.notification(created) != s3.notification(deleted)


def test_two_restores_of_one_object_are_two_notifications() -> None:
    """Two ObjectRestore:Completed events of one object (no sequencer: the time tells them)."""
    first = s3_record(event_name="ObjectRestore:Completed")
    del first["s3"]["object"]["sequencer"]
    second = copied(first)
    second["eventTime"] = "2026-12-20T01:02:03.456Z"
    assert s3.object_version(first) == s3.object_version(second)
    assert s3.notification(first) != s3.notification(second)
    assert "#ObjectRestore:Completed#2026-11-20T01:02:03.456000+00:00" in s3.notification(first)


def test_a_reupload_is_a_new_notification_and_a_new_version() -> None:
    """A re-upload: same name; new version and sequencer."""
    first = s3_record()
    second = s3_record(sequencer="0055AED6DCD9028200", version_id="v2", etag="ffff")
    assert s3.object_key(first) == s3.object_key(second)
    assert s3.object_version(first) != s3.object_version(second)
    assert s3.notification(first) != s3.notification(second)


@pytest.mark.parametrize(
    ("detail_type", "event_name"),
    [
        ("Object Created", "ObjectCreated:Copy"),
        ("Object Deleted", "ObjectRemoved:DeleteMarkerCreated"),
        ("Object Deleted", "LifecycleExpiration:Delete"),
        ("Object Restore Completed", "ObjectRestore:Completed"),
        ("Object Tags Added", "ObjectTagging:Put"),
        ("Object Storage Class Changed", "LifecycleTransition"),
    ],
)
def test_event_kinds_are_one_name_on_both_paths(detail_type: str, event_name: str) -> None:
    """EventBridge's detail-type and the notification's eventName give one kind."""
    assert s3.event_kind(detail_type) == s3.event_kind(event_name)


def test_eventbridge_keys_are_not_decoded() -> None:
    """EventBridge writes keys as they are: "a+b.csv" is a plus, not a space."""
    assert s3.object_key(s3_eventbridge("a+b.csv")) == "user-uploads/a+b.csv"


def test_s3_object_of_each_path() -> None:
    """S3Object.from_record reads the object out of any carrier; raw is the S3 record."""
    for path in ("direct", "sqs", "sns", "sns-sqs", "sns-sqs-raw"):
        obj = s3.S3Object.from_record(PATHS[path])
        assert (obj.bucket, obj.key, obj.version_id) == (
            "user-uploads",
            "incoming/a b.csv",
            VERSION,
        )
        assert obj.raw == s3_record()
    bridged = s3.S3Object.from_record(s3_eventbridge())
    assert (bridged.key, bridged.size, bridged.etag, bridged.sequencer) == (
        "incoming/a b.csv",
        1024,
        "d41d8cd98f00b204e9800998ecf8427e",
        SEQUENCER,
    )
    assert bridged.event_name == "Object Created"
    assert bridged.event_time is not None


def test_objects_of_an_sqs_batch_skip_test_events() -> None:
    """objects() of an SQS event lists the objects its messages carry; a test event has none."""
    event = {
        "Records": [
            s3_via_sqs(s3_notification(s3_record("a.csv")), message_id="m-1"),
            sqs_record(json.dumps(S3_TEST_EVENT), message_id="m-2"),
            s3_via_sns_sqs(s3_notification(s3_record("b.csv")), raw=False, message_id="m-3"),
        ]
    }
    assert [o.key for o in s3.objects(event)] == ["a.csv", "b.csv"]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (sqs_record(json.dumps(S3_TEST_EVENT)), True),
        (sns_record(json.dumps(S3_TEST_EVENT)), True),
        (s3_via_sns_sqs(S3_TEST_EVENT, raw=False), True),
        (PATHS["sqs"], False),
        (sqs_record('{"note": "s3:TestEvent is mentioned, not sent"}'), False),
        (sqs_record("s3:TestEvent, not JSON"), False),
        (s3_record(), False),
        ({"eventSource": "aws:sqs", "body": 5}, False),
    ],
    ids=["sqs", "sns", "sns-sqs", "real", "mention", "not-json", "direct", "malformed"],
)
def test_is_test_event(record: dict[str, Any], expected: bool) -> None:
    """S3's test message is recognised in a queue, a topic, or both; nothing else is."""
    assert s3.is_test_event(record) is expected


def test_a_key_of_a_test_event_is_an_event_error() -> None:
    """Keying S3's test message directly names it, and says what idempotent_records does."""
    with pytest.raises(EventError, match="s3:TestEvent"):
        s3.object_key(sqs_record(json.dumps(S3_TEST_EVENT)))


@pytest.mark.parametrize(
    ("record", "path"),
    [
        (sqs_record("not json"), "body"),
        (sqs_record("[1, 2]"), "body"),
        (sqs_record('{"Records": []}'), "body.Records"),
        (
            sqs_record('{"Records": [{"eventSource": "aws:kinesis"}]}'),
            "body.Records[0].eventSource",
        ),
        (sns_record('{"order": 1}'), "Sns.Message"),
        (
            s3_via_sqs(s3_notification(s3_record(), s3_record("b.csv"))),
            "body.Records[1].s3.object",
        ),
        (s3_via_sns_sqs({"x": 1}, raw=False), "body.Message"),
        ({"eventSource": "aws:sqs", "body": None}, "body"),
        ({**s3_eventbridge(), "detail": {"bucket": {"name": "b"}}}, "detail.object.key"),
    ],
    ids=[
        "not-json",
        "json-list",
        "no-records",
        "wrong-inner-source",
        "sns-not-s3",
        "two-in-one-message",
        "sns-sqs-not-s3",
        "body-null",
        "eventbridge-no-object",
    ],
)
def test_malformed_carriers_are_event_errors_with_a_path(record: dict[str, Any], path: str) -> None:
    """A message that does not carry one S3 notification is an EventError naming where."""
    with pytest.raises(EventError) as caught:
        s3.object_key(record)
    assert caught.value.path == path
    assert caught.value.source == "aws:s3"


def test_paths_inside_a_whole_event_start_at_the_record() -> None:
    """In a whole SQS event, the path names the record, the body and the S3 record inside."""
    event = {"Records": [s3_via_sqs(s3_notification(s3_record(key="")))]}
    with pytest.raises(EventError) as caught:
        s3.object_key(event)
    assert caught.value.path == "Records[0].body.Records[0].s3.object.key"
