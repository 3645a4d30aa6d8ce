"""Unit tests for :mod:`idemlock.sources.kafka`: records, keys and KafkaRecord."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from idemlock.errors import EventError
from idemlock.sources import kafka
from idemlock.sources.batches import source_of_event
from tests.delivered_events import BOOTSTRAP, MSK_ARN, kafka_event, kafka_record


def test_records_come_partition_by_partition_in_offset_order() -> None:
    """records() flattens topic-partition groups, keeping each partition's offset order."""
    event = kafka_event(kafka_record(7), kafka_record(8), kafka_record(2, partition=1))
    assert [(r["partition"], r["offset"]) for r in kafka.records(event)] == [(0, 7), (0, 8), (1, 2)]


@pytest.mark.parametrize(
    ("self_managed", "expected"), [(False, MSK_ARN), (True, BOOTSTRAP)], ids=["msk", "self"]
)
def test_cluster_is_the_msk_arn_or_the_bootstrap_servers(self_managed: bool, expected: str) -> None:
    """MSK names its cluster by ARN; self-managed Kafka by the servers Lambda connects to."""
    assert kafka.cluster(kafka_event(kafka_record(1), self_managed=self_managed)) == expected


def test_record_key_and_the_default_key() -> None:
    """record_key is topic/partition/offset; the source's default puts the cluster in front."""
    event = kafka_event(kafka_record(15))
    record = kafka.records(event)[0]
    assert kafka.record_key(record) == "orders/0/15"
    source = source_of_event(event)
    assert (source.name, source.event_source) == ("kafka", "aws:kafka")
    assert source.record_key(record) == f"{MSK_ARN}/orders/0/15"
    assert source_of_event(kafka_event(kafka_record(15), self_managed=True)).event_source == (
        "SelfManagedKafka"
    )


def test_kafka_record_decodes_key_value_and_headers() -> None:
    """Base64 key and value become bytes; header values (lists of byte values) become bytes."""
    parsed = kafka.KafkaRecord.from_record(kafka_record(15))
    assert (parsed.topic, parsed.partition, parsed.offset) == ("orders", 0, 15)
    assert parsed.key == b"order-1"
    assert parsed.value == b'{"n": 0}'
    assert parsed.json() == {"n": 0}
    assert parsed.headers == [("headerKey", b"header")]
    assert parsed.timestamp == datetime.fromtimestamp(1763600000.015, tz=timezone.utc)
    assert parsed.timestamp_type == "CREATE_TIME"
    assert [r.offset for r in kafka.kafka_records(kafka_event(kafka_record(1)))] == [1]


@pytest.mark.parametrize("millis", [10**20, -(10**20), 10**400], ids=["far", "before", "huge"])
def test_an_out_of_range_timestamp_is_an_event_error_as_in_kinesis(millis: int) -> None:
    """A timestamp no datetime can hold is an EventError naming the field, as the same value in
    a Kinesis record's approximateArrivalTimestamp is; never a bare OSError or ValueError."""
    with pytest.raises(EventError) as caught:
        kafka.KafkaRecord.from_record(kafka_record(1) | {"timestamp": millis})
    assert caught.value.path == "timestamp"
    with pytest.raises(EventError) as in_event:
        kafka.kafka_records(kafka_event(kafka_record(1) | {"timestamp": millis}))
    assert in_event.value.path == "records.orders-0[0].timestamp"


def test_a_tombstone_has_no_value() -> None:
    """A record with a null value (a tombstone) parses with value None."""
    record = kafka_record(1) | {"value": None, "key": None}
    parsed = kafka.KafkaRecord.from_record(record)
    assert (parsed.key, parsed.value) == (None, None)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"topic": None}, "topic"),
        ({"partition": "0"}, "partition"),
        ({"offset": None}, "offset"),
        ({"value": "not base64!"}, "value"),
        ({"headers": "x"}, "headers"),
        ({"headers": [{"h": "text"}]}, "headers[0].h"),
    ],
)
def test_malformed_records_name_the_field(change: dict[str, Any], path: str) -> None:
    """A record missing a field or holding the wrong type is an EventError at that field."""
    record = kafka_record(1)
    for name, value in change.items():
        if value is None:
            del record[name]
        else:
            record[name] = value
    with pytest.raises(EventError) as caught:
        kafka.KafkaRecord.from_record(record)
    assert caught.value.path == path


def test_an_event_of_another_source_is_refused() -> None:
    """records() of an event that is not Kafka names eventSource."""
    with pytest.raises(EventError) as caught:
        kafka.records({"eventSource": "aws:mq"})
    assert caught.value.path == "eventSource"
