"""Unit tests for :mod:`idemlock.sources.kinesis`: event IDs and KinesisRecord."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any

import pytest

from idemlock.errors import EventError
from idemlock.sources import kinesis
from tests.sources_helpers import load_event, record_of

SEQUENCE = "49590338271490256608559692538361571095921575989136588898"
STREAM_ARN = "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"
EVENT_ID = f"{STREAM_ARN}#shardId-000000000006:{SEQUENCE}"


@pytest.mark.parametrize(
    "event_or_record",
    [load_event("kinesis"), record_of("kinesis")],
    ids=["event", "record"],
)
def test_event_id_of_event_and_of_record(event_or_record: dict[str, Any]) -> None:
    """event_id is the stream ARN and the eventID (shard:sequence), of a single-record event and
    of its record."""
    assert kinesis.event_id(event_or_record) == EVENT_ID
    assert kinesis.event_id(event_or_record, object()) == EVENT_ID


def test_event_id_refuses_a_batch() -> None:
    """Two records given to event_id are an EventError."""
    event = load_event("kinesis")
    event["Records"].append(record_of("kinesis"))
    with pytest.raises(EventError) as caught:
        kinesis.event_id(event)
    assert caught.value.path == "Records"


def test_record_decodes_base64_data() -> None:
    """KinesisRecord.data is the base64-decoded payload; json() parses it."""
    record = kinesis.KinesisRecord.from_record(record_of("kinesis"))
    assert record.event_id == EVENT_ID
    assert record.source_arn == STREAM_ARN
    assert record.partition_key == "1"
    assert record.sequence_number == SEQUENCE
    assert record.data == b'{"order_id": "o-1"}'
    assert record.json() == {"order_id": "o-1"}
    assert record.raw == record_of("kinesis")


def test_arrival_is_aware_utc_with_milliseconds() -> None:
    """approximateArrivalTimestamp (epoch seconds, fractional) becomes an aware UTC datetime."""
    record = kinesis.KinesisRecord.from_record(record_of("kinesis"))
    assert record.arrival == datetime(2025, 11, 20, 0, 53, 20, 123000, tzinfo=timezone.utc)


def test_arrival_may_be_absent() -> None:
    """A record without approximateArrivalTimestamp has arrival None."""
    raw = record_of("kinesis")
    del raw["kinesis"]["approximateArrivalTimestamp"]
    assert kinesis.KinesisRecord.from_record(raw).arrival is None


def test_binary_data_is_kept_as_bytes() -> None:
    """Non-text data decodes to the exact bytes; json() of it is an EventError."""
    raw = record_of("kinesis")
    raw["kinesis"]["data"] = base64.b64encode(b"\xff\x00\xfe").decode()
    record = kinesis.KinesisRecord.from_record(raw)
    assert record.data == b"\xff\x00\xfe"
    with pytest.raises(EventError) as caught:
        record.json()
    assert caught.value.path == "kinesis.data"


def test_kinesis_records_parses_every_record() -> None:
    """kinesis_records() parses each record of the event."""
    records = kinesis.kinesis_records(load_event("kinesis"))
    assert [r.event_id for r in records] == [EVENT_ID]


def test_bad_base64_in_a_lone_record() -> None:
    """Data that is not base64 is an EventError at kinesis.data."""
    raw = record_of("kinesis")
    raw["kinesis"]["data"] = "%%%"
    with pytest.raises(EventError) as caught:
        kinesis.KinesisRecord.from_record(raw)
    assert caught.value.path == "kinesis.data"
    assert caught.value.source == "aws:kinesis"


def test_one_shard_and_sequence_number_on_two_streams_are_two_records() -> None:
    """Shard ids and sequence numbers repeat across streams: the stream is part of the key."""
    clicks = record_of("kinesis")
    orders = record_of("kinesis")
    orders["eventSourceARN"] = "arn:aws:kinesis:us-east-2:123456789012:stream/orders"
    assert clicks["eventID"] == orders["eventID"]
    assert kinesis.event_id(clicks) != kinesis.event_id(orders)
    assert kinesis.KinesisRecord.from_record(clicks) != kinesis.KinesisRecord.from_record(orders)


def test_event_id_without_the_stream_arn_is_an_event_error() -> None:
    """A record without eventSourceARN cannot be keyed: EventError naming the field."""
    record = record_of("kinesis")
    del record["eventSourceARN"]
    with pytest.raises(EventError) as caught:
        kinesis.event_id(record)
    assert caught.value.path == "eventSourceARN"
