"""Which source a batch event comes from, its records, and whether it is ordered.

:class:`Source` describes what per-record processing needs to know about each batch source;
:func:`source_of` finds it from a record's ``eventSource``, :func:`source_of_event` from a whole
event (and names the event sources that cannot be processed record by record), and
:func:`parse_batch` reads a whole batch event once. The one module of this package that knows
every source, so that importing one source loads only that one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from idemlock.errors import EventError
from idemlock.sources import (
    _event,
    _shapes,
    dynamodb_streams,
    kafka,
    kinesis,
    s3,
    s3_batch,
    sns,
    sqs,
)

__all__ = ["Batch", "Source", "parse_batch", "source_of", "source_of_event"]

Record = Mapping[str, Any]


def _never(record: Record) -> bool:
    """No record of this source carries no work / is ordered."""
    return False


def _always(record: Record) -> bool:
    """Streams keep order per shard: a failed record blocks the ones after it."""
    return True


class Source(NamedTuple):
    """What processing a batch record by record needs to know about one event source.

    :func:`source_of_event` binds a source to the event it found it in where the event decides
    something (Kafka's cluster in the default key, S3 Batch Operations' response).
    """

    name: str
    """``s3``, ``sqs``, ``sns``, ``dynamodb``, ``kinesis``, ``kafka`` or ``s3-batch``."""
    event_source: str
    """What the event says it comes from, e.g. ``aws:s3``."""
    record_key: Callable[[Record], str]
    """The default key function of one record."""
    item_identifier: Callable[[Record], str] | None
    """What Lambda's partial batch response names a failed record by; ``None``: no such response."""
    ordered: Callable[[Record], bool]
    """Whether a failure of this record must stop the batch (records after it must wait)."""
    checkpointed: bool = False
    """A stream that resumes from one sequence number: report only the first failure."""
    find_records: Callable[[Mapping[str, Any]], list[Record]] | None = None
    """The records of an event of this source; ``None``: its ``Records``, each checked."""
    acknowledged: Callable[[Record], bool] = _never
    """A record that carries no work (S3's test message): acknowledged, its handler not called."""
    respond: Callable[[Sequence[s3_batch.TaskResult]], dict[str, Any]] | None = None
    """The response for how each record ended, when the source expects its own (S3 Batch
    Operations) rather than the partial batch response."""

    def records(self, event: Mapping[str, Any]) -> list[Record]:
        """The records of ``event``, in the order they must run, each as delivered."""
        if self.find_records is not None:
            return self.find_records(event)
        return _event.records(event, self.event_source)


def source_of(record: Record) -> Source:
    """The :class:`Source` of a record, by its ``eventSource`` (``EventSource`` for SNS)."""
    checked = _event.as_mapping(record)
    found = _event.event_source(checked)
    source = _SOURCES.get(found) if isinstance(found, str) else None
    if source is not None and checked.get(_event.source_field(source.event_source)) != found:
        source = None  # "eventSource": "aws:sns" is no SNS record: SNS writes EventSource
    if source is None:
        known = ", ".join(sorted(_SOURCES))
        raise EventError(
            f"unknown eventSource {found!r}; per-record processing knows {known}",
            path="eventSource",
        )
    return source


class Batch(NamedTuple):
    """A batch event, parsed once: its source, its records as delivered, and its ordering."""

    source: Source
    records: list[Record]
    """In the order they must run (Kafka's: partition by partition, in offset order)."""
    ordered: bool
    """Whether a failure must stop the batch (streams, SQS FIFO, Kafka)."""

    def id_of(self, index: int) -> str:
        """What the source names record ``index`` by (message id, sequence number, object)."""
        name = self.source.item_identifier or self.source.record_key
        try:
            return name(self.records[index])
        except EventError:
            return f"#{index}"


def parse_batch(event: Mapping[str, Any]) -> Batch:
    """The source, records and ordering of a whole batch event: what per-record processing needs.

    One batch comes from one queue or stream: its first record says whether it is ordered, before
    anything runs (a malformed record cannot change it midway). A tumbling window's event
    (``window`` and ``state``) is refused: Lambda expects the aggregated state back.
    """
    source = source_of_event(event)
    if "window" in event or "state" in event:
        raise EventError(
            "this event is a tumbling window (it has 'window' and 'state'): Lambda expects the "
            "aggregated state in the response, which per-record processing cannot give; turn "
            "off TumblingWindowInSeconds on the trigger, or aggregate in a plain handler",
            path="window",
        )
    records = source.records(event)
    return Batch(source, records, source.ordered(records[0]))


def source_of_event(event: Mapping[str, Any]) -> Source:
    """The :class:`Source` of a whole batch event, bound to it where it must be.

    An event of a source that cannot be processed record by record (API Gateway, Amazon MQ,
    Firehose, S3 Object Lambda, a lone EventBridge event, ...) is an :class:`EventError` that
    names what it is.
    """
    if not isinstance(event, Mapping):
        raise EventError(
            f"a batch event is a mapping with its records, got a {type(event).__name__}",
            path=_event.RECORDS,
        )
    checked = event
    if _event.RECORDS in checked:
        items = checked[_event.RECORDS]
        if not _event.is_list(items) or not items:
            raise EventError(
                f"a batch event needs a non-empty list of records, got {items!r:.60}",
                path=_event.RECORDS,
            )
        return source_of(_event.as_mapping(items[0], path=f"{_event.RECORDS}[0]"))
    if s3_batch.is_invocation(checked):
        s3_batch.check_invocation(checked)  # whole, before any task is claimed
        return _S3_BATCH._replace(
            record_key=s3_batch.task_key_in(checked),
            respond=functools.partial(s3_batch.response, checked),
        )
    if kafka.is_kafka_event(checked):
        return _KAFKA._replace(
            event_source=str(checked["eventSource"]), record_key=kafka.key_in(checked)
        )
    raise _shapes.unsupported(checked)


def _sqs_item(record: Record) -> str:
    """SQS names a failed message by its ``messageId``."""
    return _event.text(record, "messageId", source=sqs.EVENT_SOURCE)


def _stream_item(record: Record) -> str:
    """DynamoDB Streams resume from the failed record's ``SequenceNumber``."""
    return _event.text(record, "dynamodb.SequenceNumber", source=dynamodb_streams.EVENT_SOURCE)


def _kinesis_item(record: Record) -> str:
    """Kinesis resumes from the failed record's ``sequenceNumber``."""
    return _event.text(record, "kinesis.sequenceNumber", source=kinesis.EVENT_SOURCE)


def _no_key(record: Record) -> str:
    """A placeholder: :func:`source_of_event` binds the key of an event's records."""
    raise EventError(
        "this source keys records by a field of their event: process the whole event", path=""
    )


_S3_BATCH = Source(
    "s3-batch",
    s3_batch.SOURCE,
    _no_key,
    None,
    _never,
    find_records=s3_batch.tasks,
)
"""S3 Batch Operations: tasks run independently; the response names each one's result."""

_KAFKA = Source(
    "kafka",
    kafka.MSK,
    _no_key,
    # No partial batch response: a failure stops the batch and fails the invocation, so that
    # Lambda retries the whole batch, as it does for Kafka; completed records replay.
    None,
    _always,
    find_records=kafka.records,
)

_SOURCES: dict[str, Source] = {
    source.event_source: source
    for source in (
        # S3 and SNS have no partial batch response: a failure fails the whole event.
        Source("s3", s3.EVENT_SOURCE, s3.notification, None, _never),
        Source(
            "sqs",
            sqs.EVENT_SOURCE,
            sqs.message_id,
            _sqs_item,
            sqs.is_fifo,
            acknowledged=s3.is_test_event,
        ),
        Source(
            "sns", sns.EVENT_SOURCE, sns.message_id, None, _never, acknowledged=s3.is_test_event
        ),
        Source(
            "dynamodb",
            dynamodb_streams.EVENT_SOURCE,
            dynamodb_streams.sequence_key,
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
"""Every batch source found by a record's ``eventSource``. EventBridge delivers single events."""
