"""SNS notifications delivered to Lambda: the key and a parsed view.

SNS invokes a function with one record per message, under ``Records`` like the other sources,
but spells the source field ``EventSource`` (capital E) and keeps the message in ``Sns``. The
key is ``Sns.MessageId``, which SNS keeps across its retries of one delivery; a message
*published* twice gets two IDs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from idemlock.errors import EventError
from idemlock.sources import _event

EVENT_SOURCE = _event.SNS
"""The ``EventSource`` of an SNS record."""


def message_id(event_or_record: Mapping[str, Any], context: object = None) -> str:
    """The ``Sns.MessageId`` of a whole single-record event or of one record.

    ``context`` is ignored, so this can be the key function of a ``handler(event, context)``.
    """
    record, root = _event.one_record_at(event_or_record, EVENT_SOURCE)
    return _event.text(record, "Sns.MessageId", root=root, source=EVENT_SOURCE)


class SnsMessage(NamedTuple):
    """One SNS notification as Lambda delivers it."""

    message_id: str
    topic_arn: str
    message: str
    subject: str | None
    timestamp: datetime | None
    """When SNS published the message, aware UTC."""
    message_attributes: dict[str, Any]
    """The publisher's attributes, each ``{"Type": ..., "Value": ...}``."""
    raw: Mapping[str, Any]
    """The record as delivered."""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SnsMessage:
        """Parse one SNS record."""
        return _parse(_event.check_record(record, EVENT_SOURCE), "")

    def json(self) -> Any:
        """The message parsed as JSON; :class:`EventError` (path ``Sns.Message``) if it is not."""
        return _event.parse_json(
            self.message, what="the message", path="Sns.Message", source=EVENT_SOURCE
        )


def sns_messages(event: Mapping[str, Any]) -> list[SnsMessage]:
    """Every message of an SNS event (Lambda delivers one), in delivery order."""
    return _event.parse_records(event, EVENT_SOURCE, _parse)


def _parse(record: Mapping[str, Any], root: str) -> SnsMessage:
    """Build an :class:`SnsMessage` from a checked record found at ``root``."""
    src = EVENT_SOURCE
    return SnsMessage(
        message_id=_event.text(record, "Sns.MessageId", root=root, source=src),
        topic_arn=_event.text(record, "Sns.TopicArn", root=root, source=src),
        message=_message(record, root),
        subject=_event.optional_text(record, "Sns.Subject", root=root, source=src),
        timestamp=_event.iso_time(record, "Sns.Timestamp", root=root, source=src),
        message_attributes=_event.optional_mapping(
            record, "Sns.MessageAttributes", root=root, source=src
        ),
        raw=record,
    )


def _message(record: Mapping[str, Any], root: str) -> str:
    """The ``Sns.Message`` text (SNS requires at least one character; ``""`` is kept)."""
    value = _event.field(record, "Sns.Message", root=root, source=EVENT_SOURCE)
    if not isinstance(value, str):
        raise EventError(
            f"the message must be a string, got {value!r:.60}",
            path=_event.join(root, "Sns.Message"),
            source=EVENT_SOURCE,
        )
    return value
