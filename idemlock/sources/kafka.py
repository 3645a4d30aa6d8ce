"""Kafka records delivered to Lambda (Amazon MSK and self-managed Kafka): keys and a parsed view.

Lambda delivers a Kafka batch as one event whose ``records`` map each ``topic-partition`` to
that partition's records in offset order; a record itself does not name its cluster. A record
is identified by cluster, topic, partition and offset, the same on every retry of the batch.
The cluster is the MSK cluster's ARN (``eventSourceArn``), or, for self-managed Kafka, the
``bootstrapServers`` the event source mapping connects to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from idemlock.errors import EventError
from idemlock.sources import _event

MSK = "aws:kafka"
"""The ``eventSource`` of an Amazon MSK event."""

SELF_MANAGED = "SelfManagedKafka"
"""The ``eventSource`` of a self-managed Kafka event."""

EVENT_SOURCES = (MSK, SELF_MANAGED)

_RECORDS = "records"


def is_kafka_event(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is a Kafka batch (MSK or self-managed)."""
    return event.get("eventSource") in EVENT_SOURCES


def cluster(event: Mapping[str, Any]) -> str:
    """The cluster of a Kafka event: the MSK cluster ARN, else the bootstrap servers."""
    checked = _checked(event)
    arn = _event.optional_text(checked, "eventSourceArn", source=_source(checked))
    if arn:
        return arn
    return _event.text(checked, "bootstrapServers", source=_source(checked))


def record_key(record: Mapping[str, Any], context: object = None) -> str:
    """``topic/partition/offset`` of one record, for a function that reads one cluster.

    The default key of ``@idempotent_records`` puts the event's :func:`cluster` in front.
    """
    return _record_key_at(_event.as_mapping(record, source=MSK), "")


def key_in(event: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], str]:
    """The default key function of the records of ``event``: ``cluster/topic/partition/offset``."""
    prefix = cluster(event)

    def key(record: Mapping[str, Any]) -> str:
        return f"{prefix}/{record_key(record)}"

    return key


def records(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every record of a Kafka event as delivered: partition by partition, in offset order."""
    return [record for record, _ in _records_at(_checked(event))]


class KafkaRecord(NamedTuple):
    """One Kafka record, its key, value and headers decoded to bytes."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime | None
    """Aware UTC, from epoch milliseconds."""
    timestamp_type: str | None
    """``CREATE_TIME`` or ``LOG_APPEND_TIME``."""
    key: bytes | None
    """The record key (Lambda delivers it base64-encoded); ``None`` when the record has none."""
    value: bytes | None
    """The payload (Lambda delivers it base64-encoded); ``None`` for a tombstone."""
    headers: list[tuple[str, bytes]]
    """Each header's name and value, in order (Lambda delivers values as lists of bytes)."""
    raw: Mapping[str, Any]
    """The record as delivered."""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> KafkaRecord:
        """Parse one Kafka record."""
        return _parse(_event.as_mapping(record, source=MSK), "")

    def json(self) -> Any:
        """The value parsed as JSON; :class:`EventError` (path ``value``) if it is not."""
        return _event.parse_json(self.value or b"", what="the value", path="value", source=MSK)


def kafka_records(event: Mapping[str, Any]) -> list[KafkaRecord]:
    """Every record of a Kafka event, parsed, partition by partition in offset order."""
    return [_parse(record, root) for record, root in _records_at(_checked(event))]


def _checked(event: object) -> Mapping[str, Any]:
    """``event`` if it is a Kafka event."""
    checked = _event.as_mapping(event, source=MSK)
    found = checked.get("eventSource")
    if found not in EVENT_SOURCES:
        raise EventError(
            f"expected a Kafka event (eventSource {MSK!r} or {SELF_MANAGED!r}), got {found!r:.60}",
            path="eventSource",
            source=MSK,
        )
    return checked


def _source(event: Mapping[str, Any]) -> str:
    """The event's own ``eventSource``, for errors."""
    return str(event["eventSource"])


def _records_at(event: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str]]:
    """Each record of a checked event with its path (``records.orders-0[3]``)."""
    source = _source(event)
    groups = event.get(_RECORDS)
    if not isinstance(groups, Mapping) or not groups:
        raise EventError(
            f"a Kafka event groups its records by topic-partition in a non-empty {_RECORDS!r} "
            f"mapping, got {groups!r:.60}",
            path=_RECORDS,
            source=source,
        )
    found = []
    for name, group in groups.items():
        path = f"{_RECORDS}.{name}"
        if not _event.is_list(group) or not group:
            raise EventError(
                f"expected a non-empty list of records, got {group!r:.60}", path=path, source=source
            )
        for index, record in enumerate(group):
            root = f"{path}[{index}]"
            found.append((_event.as_mapping(record, path=root, source=source), root))
    return found


def _record_key_at(record: Mapping[str, Any], root: str) -> str:
    """``topic/partition/offset`` of a record found at ``root``."""
    topic = _event.text(record, "topic", root=root, source=MSK)
    partition = _int(record, "partition", root)
    offset = _int(record, "offset", root)
    return f"{topic}/{partition}/{offset}"


def _int(record: Mapping[str, Any], name: str, root: str) -> int:
    """A required integer field."""
    value = _event.optional_int(record, name, root=root, source=MSK)
    if value is None:
        raise EventError(f"missing {name!r}", path=_event.join(root, name), source=MSK)
    return value


def _parse(record: Mapping[str, Any], root: str) -> KafkaRecord:
    """Build a :class:`KafkaRecord` from a record found at ``root``."""
    _record_key_at(record, root)  # the identifying fields first: their errors come first
    return KafkaRecord(
        topic=_event.text(record, "topic", root=root, source=MSK),
        partition=_int(record, "partition", root),
        offset=_int(record, "offset", root),
        timestamp=_event.epoch_millis(record, "timestamp", root=root, source=MSK),
        timestamp_type=_event.optional_text(record, "timestampType", root=root, source=MSK),
        key=_optional_bytes(record, "key", root),
        value=_optional_bytes(record, "value", root),
        headers=_headers(record, root),
        raw=record,
    )


def _optional_bytes(record: Mapping[str, Any], name: str, root: str) -> bytes | None:
    """A base64 field, ``None`` when absent or null."""
    value = _event.optional_field(record, name, root=root, source=MSK)
    if value is None:
        return None
    return _event.base64_bytes(value, path=_event.join(root, name), source=MSK)


def _headers(record: Mapping[str, Any], root: str) -> list[tuple[str, bytes]]:
    """The headers: a list of one-entry mappings, each value a list of byte values."""
    path = _event.join(root, "headers")
    headers = _event.optional_field(record, "headers", root=root, source=MSK) or []
    if not _event.is_list(headers):
        raise EventError(f"expected a list of headers, got {headers!r:.60}", path=path, source=MSK)
    decoded = []
    for index, header in enumerate(headers):
        where = f"{path}[{index}]"
        for name, value in _event.as_mapping(header, path=where, source=MSK).items():
            try:
                # Java bytes are signed: -128..127 as well as 0..255 may appear.
                decoded.append((str(name), bytes(b % 256 for b in value)))
            except TypeError:
                raise EventError(
                    f"a header value is a list of byte values, got {value!r:.60}",
                    path=_event.join(where, str(name)),
                    source=MSK,
                ) from None
    return decoded
