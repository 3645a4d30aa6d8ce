"""Unit tests for :mod:`idemlock.sources`: source_of, the event helpers, malformed events."""

from __future__ import annotations

import ast
import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import idemlock.sources
from idemlock.errors import EventError, MissingKeyError
from idemlock.sources import (
    _event,
    batches,
    dynamodb_streams,
    eventbridge,
    kafka,
    kinesis,
    s3,
    s3_batch,
    sns,
    sqs,
)
from idemlock.sources.batches import Source, source_of
from tests.delivered_events import sns_record
from tests.sources_helpers import load_event, record_of, single

DELETE: Any = object()
"""Passed to :func:`edited` to remove a field instead of setting it."""


def edited(event: Any, path: str, value: Any) -> Any:
    """A deep copy of ``event`` with the dotted ``path`` set to ``value`` (or deleted).

    Digits in the path index lists: ``Records.0.s3.object.key``.
    """
    result = copy.deepcopy(event)
    *parents, last = path.split(".")
    target = result
    for segment in parents:
        target = target[int(segment)] if segment.isdigit() else target[segment]
    if value is DELETE:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return result


# --- source_of ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_name", "name", "event_source", "key_fn"),
    [
        # Was s3.object_key, which merged a delete after a create on one object: the bug.
        ("s3-put", "s3", "aws:s3", s3.notification),
        ("sqs", "sqs", "aws:sqs", sqs.message_id),
        ("sqs-fifo", "sqs", "aws:sqs", sqs.message_id),
        ("dynamodb-stream", "dynamodb", "aws:dynamodb", dynamodb_streams.sequence_key),
        ("kinesis", "kinesis", "aws:kinesis", kinesis.event_id),
    ],
)
def test_source_of_finds_each_batch_source(
    event_name: str, name: str, event_source: str, key_fn: Callable[..., str]
) -> None:
    """source_of picks the source by eventSource; record_key keys a record as the module does."""
    record = record_of(event_name)
    source = source_of(record)
    assert isinstance(source, Source)
    assert source.name == name
    assert source.event_source == event_source
    assert source.record_key(record) == key_fn(record)


@pytest.mark.parametrize(
    ("event_name", "identifier"),
    [
        ("sqs", "059f36b4-87a3-44ab-83d2-661975830a7d"),
        ("sqs-fifo", "11d6ee51-4cc7-4302-9e22-7cd8afdaadf5"),
        ("dynamodb-stream", "111"),
        ("kinesis", "49590338271490256608559692538361571095921575989136588898"),
    ],
)
def test_item_identifier_is_what_partial_batch_responses_name(
    event_name: str, identifier: str
) -> None:
    """SQS reports messageId; Streams and Kinesis report the sequence number to resume from."""
    record = record_of(event_name)
    item_identifier = source_of(record).item_identifier
    assert item_identifier is not None
    assert item_identifier(record) == identifier


def test_s3_has_no_partial_batch_response() -> None:
    """S3 notifications have no partial batch response: item_identifier is None."""
    assert source_of(record_of("s3-put")).item_identifier is None


@pytest.mark.parametrize(
    ("event_name", "ordered"),
    [
        ("s3-put", False),
        ("sqs", False),
        ("sqs-fifo", True),
        ("dynamodb-stream", True),
        ("kinesis", True),
    ],
)
def test_ordered_says_whether_a_failure_stops_the_batch(event_name: str, ordered: bool) -> None:
    """Streams, Kinesis and SQS FIFO records are ordered; SQS standard and S3 are not."""
    record = record_of(event_name)
    assert source_of(record).ordered(record) is ordered


def test_item_identifier_of_malformed_record_is_event_error() -> None:
    """A record without its identifier field raises EventError naming the field."""
    record = edited(record_of("dynamodb-stream"), "dynamodb", DELETE)
    item_identifier = source_of(record).item_identifier
    assert item_identifier is not None
    with pytest.raises(EventError) as caught:
        item_identifier(record)
    assert caught.value.path == "dynamodb.SequenceNumber"


def test_source_of_finds_sns_by_its_capital_e() -> None:
    """SNS spells the field EventSource; its records are keyed by Sns.MessageId."""
    record = sns_record("hello")
    source = source_of(record)
    assert (source.name, source.event_source) == ("sns", "aws:sns")
    assert source.record_key(record) == sns.message_id(record) == record["Sns"]["MessageId"]
    assert source.item_identifier is None


@pytest.mark.parametrize(
    "record",
    [
        # Was also {"EventSource": "aws:sns"}: SNS is a batch source now (issue 13).
        {"eventSource": "aws:ses"},
        {"messageId": "m-1"},
        {"eventSource": None},
        {"eventSource": ["aws:s3"]},
    ],
)
def test_source_of_unknown_or_missing_event_source(record: dict[str, Any]) -> None:
    """An unknown, missing or non-string eventSource is an EventError naming eventSource."""
    with pytest.raises(EventError) as caught:
        source_of(record)
    assert caught.value.path == "eventSource"
    assert "eventSource" in str(caught.value)


@pytest.mark.parametrize("record", ["aws:s3", None, ["aws:s3"]])
def test_source_of_non_mapping_record(record: Any) -> None:
    """A record that is not a mapping is an EventError at the root, not a TypeError."""
    with pytest.raises(EventError) as caught:
        source_of(record)
    assert caught.value.path == ""


def test_source_is_frozen() -> None:
    """A Source cannot be changed after creation."""
    source = source_of(record_of("sqs"))
    with pytest.raises(AttributeError):
        source.name = "other"  # type: ignore[misc]


def test_batches_all_lists_what_the_module_defines() -> None:
    """``idemlock.sources.batches.__all__`` is sorted and names every public thing it defines."""
    exported = batches.__all__
    assert exported == sorted(exported)
    defined = {
        name
        for name, value in vars(batches).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == batches.__name__
    }
    assert set(exported) == defined
    assert all(hasattr(batches, name) for name in exported)


# --- the _event helpers ------------------------------------------------------------------------


def test_records_returns_every_record_in_order() -> None:
    """records() returns the records of a well-formed event, in order."""
    event = load_event("s3-put-two-records")
    assert _event.records(event, "aws:s3") == event["Records"]


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ({}, "Records"),
        ({"Records": []}, "Records"),
        ({"Records": None}, "Records"),
        ({"Records": "abc"}, "Records"),
        ({"Records": {"0": {}}}, "Records"),
        ({"Records": [{"eventSource": "aws:s3"}, {"eventSource": "aws:s3"}, "x"]}, "Records[2]"),
        (
            {"Records": [{"eventSource": "aws:s3"}, {"eventSource": "aws:s3"}, {}]},
            "Records[2].eventSource",
        ),
        (
            {"Records": [{"eventSource": "aws:s3"}, {"eventSource": "aws:sqs"}]},
            "Records[1].eventSource",
        ),
        ("Records", ""),
        (None, ""),
    ],
)
def test_records_rejects_malformed_events(event: Any, path: str) -> None:
    """records() raises EventError naming the path and the expected source."""
    with pytest.raises(EventError) as caught:
        _event.records(event, "aws:s3")
    assert caught.value.path == path
    assert caught.value.source == "aws:s3"


def test_event_error_is_a_missing_key_error() -> None:
    """A malformed event has no key: EventError is a MissingKeyError (on_missing_key applies)."""
    with pytest.raises(MissingKeyError):
        _event.records({}, "aws:s3")


def test_one_record_of_single_record_event() -> None:
    """one_record() returns the only record of a whole event, which sits at Records[0]."""
    event = load_event("s3-put")
    assert _event.one_record(event, "aws:s3") is event["Records"][0]
    assert _event.one_record_at(event, "aws:s3")[1] == "Records[0]"


def test_one_record_of_a_record_is_the_record() -> None:
    """one_record() returns a lone record as is, with an empty root path."""
    record = record_of("s3-put")
    assert _event.one_record(record, "aws:s3") is record
    assert _event.one_record_at(record, "aws:s3")[1] == ""


def test_one_record_accepts_a_lone_record_without_event_source() -> None:
    """A hand-built lone record may leave eventSource out."""
    record = {"messageId": "m-1"}
    assert _event.one_record(record, "aws:sqs") is record


def test_one_record_refuses_several_records() -> None:
    """A two-record event is an EventError saying how many and pointing to idempotent_records."""
    with pytest.raises(EventError) as caught:
        _event.one_record(load_event("s3-put-two-records"), "aws:s3")
    assert caught.value.path == "Records"
    assert "2 records" in str(caught.value)
    assert "idempotent_records" in str(caught.value)


def test_one_record_refuses_a_record_from_another_source() -> None:
    """A lone record whose eventSource is another source is an EventError at eventSource."""
    with pytest.raises(EventError) as caught:
        _event.one_record(record_of("sqs"), "aws:s3")
    assert caught.value.path == "eventSource"
    assert caught.value.source == "aws:s3"
    assert "aws:sqs" in str(caught.value)


def test_field_walks_a_dotted_path() -> None:
    """field() returns the value at a dotted path."""
    assert _event.field(record_of("s3-put"), "s3.bucket.name") == "user-uploads"


@pytest.mark.parametrize(
    ("mapping", "path", "root", "expected"),
    [
        ({"s3": {"object": {}}}, "s3.object.key", "", "s3.object.key"),
        ({"s3": {"object": {}}}, "s3.object.key", "Records[3]", "Records[3].s3.object.key"),
        ({"s3": {}}, "s3.object.key", "", "s3.object.key"),
        ({}, "s3.object.key", "Records[0]", "Records[0].s3.object.key"),
        ({"s3": "text"}, "s3.object.key", "", "s3.object.key"),
        ({"s3": {"object": None}}, "s3.object.key", "", "s3.object.key"),
        ({"s3": {"object": ["key"]}}, "s3.object.key", "", "s3.object.key"),
        ({"s3": 5}, "s3.object", "Records[0]", "Records[0].s3.object"),
    ],
)
def test_field_raises_event_error_with_the_full_path(
    mapping: dict[str, Any], path: str, root: str, expected: str
) -> None:
    """A missing key or a non-mapping on the way is an EventError at ``root.path``."""
    with pytest.raises(EventError) as caught:
        _event.field(mapping, path, root=root, source="aws:s3")
    assert caught.value.path == expected
    assert caught.value.source == "aws:s3"


def test_field_says_which_step_was_not_a_mapping() -> None:
    """The message names the part of the path that held a non-mapping, and its type."""
    with pytest.raises(EventError) as caught:
        _event.field({"s3": {"object": "oops"}}, "s3.object.key", root="Records[0]")
    assert "Records[0].s3.object is a str" in str(caught.value)


def test_field_returns_falsy_values() -> None:
    """A present null, zero or empty value is returned, not taken for a missing one."""
    assert _event.field({"a": {"b": None}}, "a.b") is None
    assert _event.field({"a": 0}, "a") == 0


# --- malformed events: never a KeyError or TypeError -------------------------------------------


_S3 = load_event("s3-put")
_S3_TWO = load_event("s3-put-two-records")
_SQS = single("sqs")
_SQS_TWO = load_event("sqs")
_FIFO = load_event("sqs-fifo")
_STREAM = single("dynamodb-stream")
_STREAM_ALL = load_event("dynamodb-stream")
_KINESIS = load_event("kinesis")
_SCHEDULED = load_event("eventbridge-scheduled")

MALFORMED: list[tuple[str, Callable[..., Any], Any, str]] = [
    # Not events at all.
    ("s3-string", s3.object_key, "s3://bucket/key", ""),
    ("s3-none", s3.object_key, None, ""),
    ("s3-list", s3.object_key, [_S3["Records"][0]], ""),
    ("sqs-bytes", sqs.message_id, b"{}", ""),
    ("eventbridge-string", eventbridge.event_id, "{}", ""),
    ("scheduled-list", eventbridge.scheduled_run, [], ""),
    # Records missing, empty or of the wrong shape.
    ("objects-no-records", s3.objects, {}, "Records"),
    ("messages-no-records", sqs.messages, {"records": []}, "Records"),
    ("s3-empty-records", s3.object_key, {"Records": []}, "Records"),
    ("s3-records-none", s3.object_key, {"Records": None}, "Records"),
    ("s3-records-string", s3.object_key, {"Records": "x"}, "Records"),
    ("s3-record-string", s3.object_key, {"Records": ["x"]}, "Records[0]"),
    ("stream-records-dict", dynamodb_streams.stream_records, {"Records": {}}, "Records"),
    ("kinesis-empty", kinesis.kinesis_records, {"Records": []}, "Records"),
    # Two records given to a single-event key function.
    ("s3-two", s3.object_key, _S3_TWO, "Records"),
    ("sqs-two", sqs.message_id, _SQS_TWO, "Records"),
    ("stream-three", dynamodb_streams.sequence_key, _STREAM_ALL, "Records"),
    # The wrong source.
    # An SQS message may carry an S3 notification: this one's body is an order, not one.
    ("s3-given-sqs", s3.object_key, _SQS, "Records[0].body"),
    ("sqs-given-s3", sqs.message_id, _S3, "Records[0].eventSource"),
    ("kinesis-given-stream", kinesis.event_id, _STREAM, "Records[0].eventSource"),
    (
        "stream-given-kinesis-record",
        dynamodb_streams.sequence_key,
        _KINESIS["Records"][0],
        "eventSource",
    ),
    (
        "s3-no-event-source",
        s3.object_key,
        edited(_S3, "Records.0.eventSource", DELETE),
        "Records[0].eventSource",
    ),
    (
        "objects-second-wrong",
        s3.objects,
        edited(_S3_TWO, "Records.1.eventSource", "aws:kinesis"),
        "Records[1].eventSource",
    ),
    # Missing nested fields.
    ("s3-no-s3", s3.object_key, edited(_S3, "Records.0.s3", DELETE), "Records[0].s3.bucket.name"),
    (
        "s3-no-key",
        s3.object_key,
        edited(_S3, "Records.0.s3.object.key", DELETE),
        "Records[0].s3.object.key",
    ),
    (
        "s3-record-no-bucket",
        s3.object_key,
        edited(_S3["Records"][0], "s3.bucket", DELETE),
        "s3.bucket.name",
    ),
    (
        "s3-version-neither",
        s3.object_version,
        edited(
            edited(_S3, "Records.0.s3.object.versionId", DELETE), "Records.0.s3.object.eTag", DELETE
        ),
        "Records[0].s3.object",
    ),
    (
        "objects-no-event-name",
        s3.objects,
        edited(_S3_TWO, "Records.1.eventName", DELETE),
        "Records[1].eventName",
    ),
    (
        "sqs-no-message-id",
        sqs.message_id,
        edited(_SQS, "Records.0.messageId", DELETE),
        "Records[0].messageId",
    ),
    (
        "messages-no-body",
        sqs.messages,
        edited(_SQS_TWO, "Records.1.body", DELETE),
        "Records[1].body",
    ),
    (
        "stream-no-dynamodb",
        dynamodb_streams.sequence_key,
        edited(_STREAM, "Records.0.dynamodb", DELETE),
        "Records[0].dynamodb.SequenceNumber",
    ),
    (
        "stream-no-arn",
        dynamodb_streams.sequence_key,
        edited(_STREAM, "Records.0.eventSourceARN", DELETE),
        "Records[0].eventSourceARN",
    ),
    (
        "streams-no-keys",
        dynamodb_streams.stream_records,
        edited(_STREAM_ALL, "Records.2.dynamodb.Keys", DELETE),
        "Records[2].dynamodb.Keys",
    ),
    (
        "kinesis-no-event-id",
        kinesis.event_id,
        edited(_KINESIS, "Records.0.eventID", DELETE),
        "Records[0].eventID",
    ),
    (
        "kinesis-no-data",
        kinesis.kinesis_records,
        edited(_KINESIS, "Records.0.kinesis.data", DELETE),
        "Records[0].kinesis.data",
    ),
    ("eventbridge-no-id", eventbridge.event_id, edited(_SCHEDULED, "id", DELETE), "id"),
    ("scheduled-no-time", eventbridge.scheduled_run, edited(_SCHEDULED, "time", DELETE), "time"),
    (
        "scheduled-no-resources",
        eventbridge.scheduled_run,
        edited(_SCHEDULED, "resources", DELETE),
        "resources",
    ),
    (
        "scheduled-empty-resources",
        eventbridge.scheduled_run,
        edited(_SCHEDULED, "resources", []),
        "resources",
    ),
    # A non-mapping where a mapping is expected, or a value of the wrong type.
    (
        "s3-object-string",
        s3.object_key,
        edited(_S3, "Records.0.s3.object", "key.csv"),
        "Records[0].s3.object.key",
    ),
    (
        "s3-bucket-list",
        s3.object_key,
        edited(_S3, "Records.0.s3.bucket", ["user-uploads"]),
        "Records[0].s3.bucket.name",
    ),
    (
        "s3-key-number",
        s3.object_key,
        edited(_S3, "Records.0.s3.object.key", 7),
        "Records[0].s3.object.key",
    ),
    (
        "s3-key-empty",
        s3.object_key,
        edited(_S3, "Records.0.s3.object.key", ""),
        "Records[0].s3.object.key",
    ),
    (
        "s3-key-bad-utf8",
        s3.object_key,
        edited(_S3, "Records.0.s3.object.key", "a%FF.csv"),
        "Records[0].s3.object.key",
    ),
    (
        "s3-version-number",
        s3.object_version,
        edited(_S3, "Records.0.s3.object.versionId", 3),
        "Records[0].s3.object.versionId",
    ),
    (
        "objects-size-string",
        s3.objects,
        edited(_S3_TWO, "Records.1.s3.object.size", "11"),
        "Records[1].s3.object.size",
    ),
    (
        "objects-bad-time",
        s3.objects,
        edited(_S3, "Records.0.eventTime", "yesterday"),
        "Records[0].eventTime",
    ),
    (
        "sqs-message-id-none",
        sqs.message_id,
        edited(_SQS["Records"][0], "messageId", None),
        "messageId",
    ),
    (
        "messages-body-dict",
        sqs.messages,
        edited(_SQS_TWO, "Records.1.body", {"a": 1}),
        "Records[1].body",
    ),
    (
        "messages-attributes-string",
        sqs.messages,
        edited(_FIFO, "Records.0.attributes", "x"),
        "Records[0].attributes",
    ),
    (
        "messages-group-number",
        sqs.messages,
        edited(_FIFO, "Records.1.attributes.MessageGroupId", 1),
        "Records[1].attributes.MessageGroupId",
    ),
    (
        "stream-dynamodb-list",
        dynamodb_streams.sequence_key,
        edited(_STREAM, "Records.0.dynamodb", []),
        "Records[0].dynamodb.SequenceNumber",
    ),
    (
        "streams-dynamodb-string",
        dynamodb_streams.stream_records,
        edited(_STREAM_ALL, "Records.1.dynamodb", "x"),
        "Records[1].dynamodb",
    ),
    (
        "streams-image-list",
        dynamodb_streams.stream_records,
        edited(_STREAM_ALL, "Records.1.dynamodb.NewImage", []),
        "Records[1].dynamodb.NewImage",
    ),
    (
        "streams-unknown-tag",
        dynamodb_streams.stream_records,
        edited(_STREAM_ALL, "Records.0.dynamodb.NewImage.Tags", {"XS": ["a"]}),
        "Records[0].dynamodb.NewImage.Tags",
    ),
    (
        "streams-two-tags",
        dynamodb_streams.stream_records,
        edited(_STREAM_ALL, "Records.0.dynamodb.NewImage.Price", {"N": "1", "S": "1"}),
        "Records[0].dynamodb.NewImage.Price",
    ),
    (
        "streams-bad-number",
        dynamodb_streams.stream_records,
        edited(_STREAM_ALL, "Records.0.dynamodb.NewImage.Price", {"N": "twelve"}),
        "Records[0].dynamodb.NewImage.Price",
    ),
    (
        "streams-map-string",
        dynamodb_streams.stream_records,
        edited(_STREAM_ALL, "Records.0.dynamodb.NewImage.Meta", {"M": "x"}),
        "Records[0].dynamodb.NewImage.Meta",
    ),
    (
        "streams-nested-bad",
        dynamodb_streams.stream_records,
        edited(_STREAM_ALL, "Records.0.dynamodb.NewImage.Meta.M.ok", {"BOOL": "yes"}),
        "Records[0].dynamodb.NewImage.Meta.ok",
    ),
    (
        "streams-set-member",
        dynamodb_streams.stream_records,
        edited(_STREAM_ALL, "Records.0.dynamodb.NewImage.Tags", {"SS": ["a", 2]}),
        "Records[0].dynamodb.NewImage.Tags[1]",
    ),
    (
        "streams-bad-created",
        dynamodb_streams.stream_records,
        edited(_STREAM_ALL, "Records.0.dynamodb.ApproximateCreationDateTime", "now"),
        "Records[0].dynamodb.ApproximateCreationDateTime",
    ),
    (
        "kinesis-section-none",
        kinesis.kinesis_records,
        edited(_KINESIS, "Records.0.kinesis", None),
        "Records[0].kinesis.partitionKey",
    ),
    (
        "kinesis-bad-base64",
        kinesis.kinesis_records,
        edited(_KINESIS, "Records.0.kinesis.data", "not base64!"),
        "Records[0].kinesis.data",
    ),
    ("eventbridge-id-number", eventbridge.event_id, edited(_SCHEDULED, "id", 42), "id"),
    (
        "scheduled-resources-string",
        eventbridge.scheduled_run,
        edited(_SCHEDULED, "resources", "arn:aws:events:rule/x"),
        "resources",
    ),
    (
        "scheduled-resource-number",
        eventbridge.scheduled_run,
        edited(_SCHEDULED, "resources", [5]),
        "resources[0]",
    ),
    ("scheduled-time-none", eventbridge.scheduled_run, edited(_SCHEDULED, "time", None), "time"),
    # The sources of issue 13.
    (
        "notification-no-sequencer-or-time",
        s3.notification,
        edited(edited(_S3, "Records.0.s3.object.sequencer", DELETE), "Records.0.eventTime", DELETE),
        "Records[0].s3.object",
    ),
    (
        "notification-no-event-name",
        s3.notification,
        edited(_S3, "Records.0.eventName", DELETE),
        "Records[0].eventName",
    ),
    (
        "sns-no-message-id",
        sns.message_id,
        {"Records": [{"EventSource": "aws:sns", "Sns": {}}]},
        "Records[0].Sns.MessageId",
    ),
    ("sns-messages-no-records", sns.sns_messages, {}, "Records"),
    ("kafka-records-none", kafka.records, {"eventSource": "aws:kafka", "records": None}, "records"),
    (
        "kafka-records-group-string",
        kafka.kafka_records,
        {"eventSource": "SelfManagedKafka", "records": {"t-0": "x"}},
        "records.t-0",
    ),
    ("kafka-cluster-none", kafka.cluster, {"eventSource": "SelfManagedKafka"}, "bootstrapServers"),
    ("s3-batch-no-tasks", s3_batch.tasks, {"invocationSchemaVersion": "1.0"}, "tasks"),
    ("s3-batch-task-id", s3_batch.task_id, {"taskId": 7}, "taskId"),
]


@pytest.mark.parametrize(
    ("parse", "event", "path"),
    [pytest.param(parse, event, path, id=name) for name, parse, event, path in MALFORMED],
)
def test_malformed_events_raise_event_error_with_path(
    parse: Callable[..., Any], event: Any, path: str
) -> None:
    """Every malformed shape is an EventError naming where; never a KeyError or TypeError."""
    with pytest.raises(EventError) as caught:
        parse(event)
    assert caught.value.path == path
    if path:
        assert f"(at {path})" in str(caught.value)


def test_malformed_corpus_covers_every_parser() -> None:
    """The corpus above exercises every key function and every event parser."""
    parsers = {parse for _, parse, _, _ in MALFORMED}
    assert parsers == {
        s3.object_key,
        s3.object_version,
        s3.objects,
        sqs.message_id,
        sqs.messages,
        dynamodb_streams.sequence_key,
        dynamodb_streams.stream_records,
        kinesis.event_id,
        kinesis.kinesis_records,
        eventbridge.event_id,
        eventbridge.scheduled_run,
        s3.notification,
        sns.message_id,
        sns.sns_messages,
        kafka.records,
        kafka.kafka_records,
        kafka.cluster,
        s3_batch.tasks,
        s3_batch.task_id,
    }


# --- layering ----------------------------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    """The modules a source file imports, at any depth (deferred imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path",
    sorted(Path(idemlock.sources.__file__).parent.glob("*.py")),
    ids=lambda path: path.name,
)
def test_sources_import_only_the_standard_library_and_errors(path: Path) -> None:
    """sources/ knows nothing of locks or boto3: it imports the stdlib, errors and itself. The
    stream dispatcher is the one place composing a source with per-record processing."""
    allowed_own = {"idemlock.errors", "idemlock.sources"}
    if path.name == "dynamodb_streams.py":
        allowed_own |= {"idemlock._decorator", "idemlock.batch"}
    for name in _imports(path):
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or top == "__future__" or name in allowed_own, name
