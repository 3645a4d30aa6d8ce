"""Kinesis Data Streams records delivered to Lambda: the key and a parsed view.

The key is the stream's ARN and the ``eventID`` (``shardId-...:sequenceNumber``): the eventID is
the same on every retry of the record, but unique only within its stream (shard ids and sequence
numbers repeat across streams).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from idemlock.sources import _event

EVENT_SOURCE = "aws:kinesis"
"""The ``eventSource`` of a Kinesis record."""


def event_id(event_or_record: Mapping[str, Any], context: object = None) -> str:
    """``streamARN#shardId:sequenceNumber``, of a whole single-record event or of one record.

    ``context`` is ignored, so this can be the key function of a ``handler(event, context)``.
    """
    return _event_id_at(*_event.one_record_at(event_or_record, EVENT_SOURCE))


class KinesisRecord(NamedTuple):
    """One Kinesis record, with its data base64-decoded."""

    event_id: str
    """Our key for the record: ``streamARN#shardId-...:sequenceNumber`` (see :func:`event_id`)."""
    source_arn: str
    """The stream's ARN (``eventSourceARN``)."""
    partition_key: str
    sequence_number: str
    data: bytes
    """The payload as the producer put it (Lambda delivers it base64-encoded)."""
    arrival: datetime | None
    """``approximateArrivalTimestamp``, aware UTC."""
    raw: Mapping[str, Any]
    """The record as delivered."""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> KinesisRecord:
        """Parse one Kinesis record."""
        return _parse(_event.check_record(record, EVENT_SOURCE), "")

    def json(self) -> Any:
        """The data parsed as JSON; :class:`EventError` (path ``kinesis.data``) if it is not."""
        return _event.parse_json(
            self.data, what="the record data", path="kinesis.data", source=EVENT_SOURCE
        )


def kinesis_records(event: Mapping[str, Any]) -> list[KinesisRecord]:
    """Every record of a Kinesis event, in shard order."""
    return _event.parse_records(event, EVENT_SOURCE, _parse)


def _parse(record: Mapping[str, Any], root: str) -> KinesisRecord:
    """Build a :class:`KinesisRecord` from a checked record found at ``root``."""
    src = EVENT_SOURCE
    data_path = _event.join(root, "kinesis.data")
    return KinesisRecord(
        event_id=_event_id_at(record, root),
        source_arn=_event.text(record, "eventSourceARN", root=root, source=src),
        partition_key=_event.text(record, "kinesis.partitionKey", root=root, source=src),
        sequence_number=_event.text(record, "kinesis.sequenceNumber", root=root, source=src),
        data=_event.base64_bytes(
            _event.field(record, "kinesis.data", root=root, source=src), path=data_path, source=src
        ),
        arrival=_event.epoch_time(
            record, "kinesis.approximateArrivalTimestamp", root=root, source=src
        ),
        raw=record,
    )


def _event_id_at(record: Mapping[str, Any], root: str) -> str:
    """:func:`event_id` of a record found at ``root``."""
    arn = _event.text(record, "eventSourceARN", root=root, source=EVENT_SOURCE)
    return f"{arn}#{_event.text(record, 'eventID', root=root, source=EVENT_SOURCE)}"
