"""SQS messages delivered to Lambda: the key, FIFO detection and a parsed view.

The key is the ``messageId``, which SQS keeps across redeliveries of one message. A message
*sent* twice gets two IDs; deduplicating that is the producer's side (FIFO deduplication IDs,
or a key function reading the body).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from idemlock.errors import EventError
from idemlock.sources import _event

EVENT_SOURCE = "aws:sqs"
"""The ``eventSource`` of an SQS record."""

_FIFO_SUFFIX = ".fifo"
"""SQS requires the name of every FIFO queue, and only theirs, to end with this."""


def message_id(event_or_record: Mapping[str, Any], context: object = None) -> str:
    """The ``messageId`` of a whole single-record event or of one record.

    ``context`` is ignored, so this can be the key function of a ``handler(event, context)``.
    """
    record, root = _event.one_record_at(event_or_record, EVENT_SOURCE)
    return _event.text(record, "messageId", root=root, source=EVENT_SOURCE)


def is_fifo(record: Mapping[str, Any]) -> bool:
    """Whether the record comes from a FIFO queue, whose failures must stop the batch.

    The queue ARN decides when present: only FIFO queue names end in ``.fifo``, while a standard
    "fair" queue also carries ``MessageGroupId``. Without an ARN, a group ID means FIFO (the
    cautious answer: stopping at a failure is safe for a standard queue too).
    """
    return _is_fifo_at(_event.check_record(record, EVENT_SOURCE), "")


class SqsMessage(NamedTuple):
    """One SQS message as Lambda delivers it."""

    message_id: str
    body: str
    attributes: dict[str, str]
    """System attributes: ``ApproximateReceiveCount``, ``SentTimestamp``, ... (all strings)."""
    message_attributes: dict[str, Any]
    """The sender's attributes, each ``{"dataType": ..., "stringValue": ...}``."""
    group_id: str | None
    """``MessageGroupId`` (FIFO queues, and fair standard queues)."""
    sequence_number: str | None
    """FIFO queues only."""
    is_fifo: bool
    raw: Mapping[str, Any]
    """The record as delivered."""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SqsMessage:
        """Parse one SQS record."""
        return _parse(_event.check_record(record, EVENT_SOURCE), "")

    def json(self) -> Any:
        """The body parsed as JSON; :class:`EventError` (path ``body``) if it is not JSON."""
        return _event.parse_json(
            self.body, what="the message body", path="body", source=EVENT_SOURCE
        )


def messages(event: Mapping[str, Any]) -> list[SqsMessage]:
    """Every message of an SQS event, in delivery order."""
    return _event.parse_records(event, EVENT_SOURCE, _parse)


def _parse(record: Mapping[str, Any], root: str) -> SqsMessage:
    """Build an :class:`SqsMessage` from a checked record found at ``root``."""
    src = EVENT_SOURCE
    body = _event.field(record, "body", root=root, source=src)
    if not isinstance(body, str):  # may be empty only in hand-built records; SQS needs 1 char
        raise EventError(
            f"the body must be a string, got {body!r:.60}",
            path=_event.join(root, "body"),
            source=src,
        )
    attributes = _event.optional_mapping(record, "attributes", root=root, source=src)
    attributes_root = _event.join(root, "attributes")
    return SqsMessage(
        message_id=_event.text(record, "messageId", root=root, source=src),
        body=body,
        attributes=attributes,
        message_attributes=_event.optional_mapping(
            record, "messageAttributes", root=root, source=src
        ),
        group_id=_event.optional_text(
            attributes, "MessageGroupId", root=attributes_root, source=src
        ),
        sequence_number=_event.optional_text(
            attributes, "SequenceNumber", root=attributes_root, source=src
        ),
        is_fifo=_is_fifo_at(record, root),
        raw=record,
    )


def _is_fifo_at(record: Mapping[str, Any], root: str) -> bool:
    """:func:`is_fifo` of a checked record found at ``root``."""
    arn = _event.optional_text(record, "eventSourceARN", root=root, source=EVENT_SOURCE)
    if arn:
        return arn.endswith(_FIFO_SUFFIX)
    attributes = _event.optional_mapping(record, "attributes", root=root, source=EVENT_SOURCE)
    return attributes.get("MessageGroupId") is not None
