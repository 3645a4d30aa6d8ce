"""Unit tests for :mod:`idemlock.sources.sns`: message IDs and SnsMessage."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from idemlock.errors import EventError
from idemlock.sources import sns
from tests.delivered_events import SNS_MESSAGE_ID, TOPIC_ARN, sns_record


def test_message_id_of_event_and_of_record() -> None:
    """message_id is Sns.MessageId of a single-record event and of its record."""
    record = sns_record("hello")
    assert sns.message_id(record) == SNS_MESSAGE_ID
    assert sns.message_id({"Records": [record]}, object()) == SNS_MESSAGE_ID


def test_sns_message_view() -> None:
    """SnsMessage reads the message, topic, subject, time and attributes."""
    message = sns.SnsMessage.from_record(sns_record('{"order": 1}'))
    assert message.message_id == SNS_MESSAGE_ID
    assert message.topic_arn == TOPIC_ARN
    assert message.subject == "Amazon S3 Notification"
    assert message.timestamp == datetime(2026, 11, 20, 1, 2, 4, tzinfo=timezone.utc)
    assert message.message_attributes == {"Test": {"Type": "String", "Value": "TestString"}}
    assert message.json() == {"order": 1}
    assert [m.message for m in sns.sns_messages({"Records": [sns_record("a")]})] == ["a"]


def test_lower_case_event_source_is_not_sns() -> None:
    """SNS writes EventSource; a record spelling it eventSource is refused at EventSource."""
    record = sns_record("a")
    record["eventSource"] = record.pop("EventSource")
    with pytest.raises(EventError) as caught:
        sns.message_id({"Records": [record]})
    assert caught.value.path == "Records[0].EventSource"


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [("MessageId", None, "Sns.MessageId"), ("Message", 5, "Sns.Message")],
)
def test_malformed_records_name_the_field(field: str, value: object, path: str) -> None:
    """A record without a message id, or with a non-text message, is an EventError."""
    record = sns_record("a")
    record["Sns"][field] = value
    with pytest.raises(EventError) as caught:
        sns.SnsMessage.from_record(record)
    assert caught.value.path == path


def test_a_message_that_is_not_json() -> None:
    """json() of a plain-text message is an EventError at Sns.Message."""
    with pytest.raises(EventError) as caught:
        sns.SnsMessage.from_record(sns_record("hello")).json()
    assert caught.value.path == "Sns.Message"
