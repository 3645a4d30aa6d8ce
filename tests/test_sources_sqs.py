"""Unit tests for :mod:`idemlock.sources.sqs`: message IDs, FIFO detection, SqsMessage."""

from __future__ import annotations

from typing import Any

import pytest

from idemlock.errors import EventError
from idemlock.sources import sqs
from tests.sources_helpers import load_event, record_of, single

FIRST_ID = "059f36b4-87a3-44ab-83d2-661975830a7d"


@pytest.mark.parametrize(
    "event_or_record",
    [single("sqs"), record_of("sqs")],
    ids=["event", "record"],
)
def test_message_id_of_event_and_of_record(event_or_record: dict[str, Any]) -> None:
    """message_id reads messageId from a whole single-record event and from its record."""
    assert sqs.message_id(event_or_record) == FIRST_ID
    assert sqs.message_id(event_or_record, object()) == FIRST_ID


@pytest.mark.parametrize("name", ["sqs", "sqs-fifo"])
def test_message_id_refuses_a_two_message_batch(name: str) -> None:
    """Both two-message samples given to message_id are an EventError about per-record use."""
    with pytest.raises(EventError) as caught:
        sqs.message_id(load_event(name))
    assert caught.value.path == "Records"
    assert "2 records" in str(caught.value)


@pytest.mark.parametrize(("name", "fifo"), [("sqs", False), ("sqs-fifo", True)])
def test_is_fifo_on_both_samples(name: str, fifo: bool) -> None:
    """The .fifo queue's records are FIFO; the standard queue's are not."""
    assert [sqs.is_fifo(record) for record in load_event(name)["Records"]] == [fifo, fifo]
    assert [message.is_fifo for message in sqs.messages(load_event(name))] == [fifo, fifo]


def test_is_fifo_from_group_id_when_arn_is_missing() -> None:
    """Without a queue ARN, a MessageGroupId marks a FIFO record."""
    record = record_of("sqs-fifo")
    del record["eventSourceARN"]
    assert sqs.is_fifo(record) is True
    del record["attributes"]["MessageGroupId"]
    assert sqs.is_fifo(record) is False


def test_fair_standard_queue_is_not_fifo() -> None:
    """A standard queue's message with a MessageGroupId (a fair queue) stays unordered.

    Only FIFO queue names end in ``.fifo``; the ARN decides when it is there.
    """
    record = record_of("sqs")
    record["attributes"]["MessageGroupId"] = "tenant-1"
    assert sqs.is_fifo(record) is False
    assert sqs.SqsMessage.from_record(record).group_id == "tenant-1"


def test_is_fifo_of_a_bare_minimal_record() -> None:
    """A hand-built record with neither ARN nor attributes is not FIFO."""
    assert sqs.is_fifo({"messageId": "m-1"}) is False


def test_is_fifo_of_another_source_is_event_error() -> None:
    """is_fifo of a non-SQS record is an EventError at eventSource."""
    with pytest.raises(EventError) as caught:
        sqs.is_fifo(record_of("kinesis"))
    assert caught.value.path == "eventSource"


def test_fifo_message_fields() -> None:
    """A FIFO message exposes its group ID and sequence number."""
    message = sqs.SqsMessage.from_record(record_of("sqs-fifo", 1))
    assert message.message_id == "22d6ee51-4cc7-4302-9e22-7cd8afdaadf6"
    assert message.body == '{"step": 2}'
    assert message.group_id == "g1"
    assert message.sequence_number == "18849496460467696129"
    assert message.is_fifo is True
    assert message.attributes["MessageDeduplicationId"] == "d2"
    assert message.message_attributes == {}
    assert message.raw == record_of("sqs-fifo", 1)


def test_standard_message_fields() -> None:
    """A standard message has no group ID or sequence number."""
    message = sqs.SqsMessage.from_record(record_of("sqs"))
    assert message.message_id == FIRST_ID
    assert (message.group_id, message.sequence_number, message.is_fifo) == (None, None, False)
    assert message.attributes["ApproximateReceiveCount"] == "1"


def test_message_attributes_are_kept() -> None:
    """The sender's message attributes are returned as delivered."""
    record = record_of("sqs")
    record["messageAttributes"] = {"tenant": {"dataType": "String", "stringValue": "t-1"}}
    message = sqs.SqsMessage.from_record(record)
    assert message.message_attributes["tenant"]["stringValue"] == "t-1"


def test_json_parses_the_body() -> None:
    """json() returns the body parsed as JSON."""
    messages = sqs.messages(load_event("sqs"))
    assert [m.json() for m in messages] == [
        {"order_id": "o-1", "amount": 1200},
        {"order_id": "o-2", "amount": 80},
    ]


@pytest.mark.parametrize("body", ["not json", "", "{'single': 'quotes'}"])
def test_json_of_non_json_body_is_event_error(body: str) -> None:
    """A body that is not JSON makes json() raise EventError with path ``body``."""
    record = record_of("sqs")
    record["body"] = body
    with pytest.raises(EventError) as caught:
        sqs.SqsMessage.from_record(record).json()
    assert caught.value.path == "body"
    assert caught.value.source == "aws:sqs"


def test_messages_keep_delivery_order() -> None:
    """messages() returns every message of the event, in order."""
    assert [m.message_id for m in sqs.messages(load_event("sqs-fifo"))] == [
        "11d6ee51-4cc7-4302-9e22-7cd8afdaadf5",
        "22d6ee51-4cc7-4302-9e22-7cd8afdaadf6",
    ]
