"""Event sources: parse AWS events and build idempotency keys from them.

- :mod:`idemlock.sources.s3`: S3 notifications, keyed by object name or by object version.
- :mod:`idemlock.sources.dynamodb_streams`: DynamoDB Streams records, images deserialized.
- :mod:`idemlock.sources.sqs`: SQS messages, standard and FIFO.
- :mod:`idemlock.sources.eventbridge`: EventBridge events, scheduled runs included.
- :mod:`idemlock.sources.kinesis`: Kinesis Data Streams records.

Each key function takes a whole single-record event or one record, so the same function keys a
``handler(event, context)`` and each record of a batch. This package parses and keys events
only; it knows nothing of locks. A malformed event raises :class:`~idemlock.errors.EventError`
naming the path of what is missing.

:class:`Source` describes what per-record processing needs to know about each batch source;
:func:`source_of` finds it from a record's ``eventSource``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from idemlock.errors import EventError
from idemlock.sources import _event, dynamodb_streams, kinesis, s3, sqs
from idemlock.sources import eventbridge as eventbridge  # so every source is an attribute

__all__ = ["Source", "source_of"]


@dataclass(frozen=True)
class Source:
    """What processing a batch record by record needs to know about one event source."""

    name: str
    """``s3``, ``sqs``, ``dynamodb`` or ``kinesis``: the ``eventSource`` without ``aws:``."""
    event_source: str
    """The records' ``eventSource``, e.g. ``aws:s3``."""
    record_key: Callable[[Mapping[str, Any]], str]
    """The default key function of one record."""
    item_identifier: Callable[[Mapping[str, Any]], str] | None
    """What Lambda's partial batch response names a failed record by; ``None``: no such response."""
    ordered: Callable[[Mapping[str, Any]], bool]
    """Whether a failure of this record must stop the batch (records after it must wait)."""
    checkpointed: bool = False
    """A stream that resumes from one sequence number: report only the first failure."""


def source_of(record: Mapping[str, Any]) -> Source:
    """The :class:`Source` of a record, by its ``eventSource``."""
    checked = _event.as_mapping(record)
    found = checked.get("eventSource")
    source = _SOURCES.get(found) if isinstance(found, str) else None
    if source is None:
        known = ", ".join(sorted(_SOURCES))
        raise EventError(
            f"unknown eventSource {found!r}; per-record processing knows {known}",
            path="eventSource",
        )
    return source


def _always(record: Mapping[str, Any]) -> bool:
    """Streams keep order per shard: a failed record blocks the ones after it."""
    return True


def _never(record: Mapping[str, Any]) -> bool:
    """Unordered sources: a failed record does not hold the others back."""
    return False


def _sqs_item(record: Mapping[str, Any]) -> str:
    """SQS names a failed message by its ``messageId``."""
    return _event.text(record, "messageId", source=sqs.EVENT_SOURCE)


def _stream_item(record: Mapping[str, Any]) -> str:
    """DynamoDB Streams resume from the failed record's ``SequenceNumber``."""
    return _event.text(record, "dynamodb.SequenceNumber", source=dynamodb_streams.EVENT_SOURCE)


def _kinesis_item(record: Mapping[str, Any]) -> str:
    """Kinesis resumes from the failed record's ``sequenceNumber``."""
    return _event.text(record, "kinesis.sequenceNumber", source=kinesis.EVENT_SOURCE)


_SOURCES: dict[str, Source] = {
    source.event_source: source
    for source in (
        # S3 has no partial batch response: a failure fails the whole event.
        Source("s3", s3.EVENT_SOURCE, s3.object_key, None, _never),
        Source("sqs", sqs.EVENT_SOURCE, sqs.message_id, _sqs_item, sqs.is_fifo),
        Source(
            "dynamodb",
            dynamodb_streams.EVENT_SOURCE,
            dynamodb_streams.event_id,
            _stream_item,
            _always,
            checkpointed=True,
        ),
        Source(
            "kinesis",
            kinesis.EVENT_SOURCE,
            kinesis.event_id,
            _kinesis_item,
            _always,
            checkpointed=True,
        ),
    )
}
"""Every batch source, by ``eventSource``. EventBridge delivers single events: not here."""
