"""S3 notifications, however they arrive: keys per object name, per version, per notification.

S3 tells about an object by several paths, and every key function and view here takes each of
them: a notification record sent to the function (``eventSource: aws:s3``), the same
notification as the body of an SQS message, as the message of an SNS notification (delivered to
the function, or to a queue with or without raw message delivery), and S3's events on
EventBridge (``source: aws.s3``, ``detail-type: Object Created``, ...). The same object gives the
same key whichever path it took. :func:`object_key` and :func:`object_version` also key an S3
Batch Operations task (see :mod:`idemlock.sources.s3_batch`).

S3 writes object keys in notifications URL-encoded with ``+`` for a space
(``my+file%281%29.csv`` is ``my file(1).csv``); they are decoded with
:func:`urllib.parse.unquote_plus`. EventBridge writes them as they are. Duplicate deliveries of
one notification share the object's ``sequencer``.

When a bucket's notifications are configured, S3 sends its queue or topic a test message
(``"Event": "s3:TestEvent"``) that names no object: :func:`is_test_event` tells it apart, and
``@idempotent_records`` acknowledges it without calling the handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from idemlock.errors import EventError
from idemlock.sources import _event

EVENT_SOURCE = "aws:s3"
"""The ``eventSource`` of an S3 notification record."""

EVENTBRIDGE_SOURCE = "aws.s3"
"""The ``source`` of S3's events on EventBridge."""

TEST_EVENT = "s3:TestEvent"
"""The ``Event`` of the message S3 sends a queue or topic when notifications are configured."""

BATCH_OPERATIONS_TASK = "S3BatchOperations:Task"
"""The :attr:`S3Object.event_name` of an S3 Batch Operations task (which names no event)."""

_SQS = "aws:sqs"
_NULL_VERSION = "null"
"""The version ID S3 gives objects written while versioning is off or suspended."""

_EVENTBRIDGE_KINDS = {
    "Object Created": "ObjectCreated",
    "Object Deleted": "ObjectRemoved",
    "Object Restore Initiated": "ObjectRestore:Post",
    "Object Restore Completed": "ObjectRestore:Completed",
    "Object Restore Expired": "ObjectRestore:Delete",
    "Object Tags Added": "ObjectTagging:Put",
    "Object Tags Deleted": "ObjectTagging:Delete",
    "Object ACL Updated": "ObjectAcl:Put",
    "Object Storage Class Changed": "LifecycleTransition",
    "Object Access Tier Changed": "IntelligentTiering",
}
"""EventBridge's ``detail-type`` → the notification's event name (the family, for the first two)."""

_FAMILIES = {
    "ObjectCreated": "ObjectCreated",
    "ObjectRemoved": "ObjectRemoved",
    # EventBridge reports a lifecycle expiration as "Object Deleted" (reason "Lifecycle
    # Expiration"): the same kind, so that both paths give one key.
    "LifecycleExpiration": "ObjectRemoved",
}
"""Event names whose sub-type (``:Put``, ``:Copy``, ``:Delete``) EventBridge does not name."""


def object_key(event_or_record: Mapping[str, Any], context: object = None) -> str:
    """``bucket/key`` (decoded): a re-upload, or any other event on the name, is skipped.

    A delete after a create is skipped too while the key is retained. Takes a whole
    single-notification event or one record, by any path (see the module);
    ``context`` is ignored, so this can be the key function of a ``handler(event, context)``.
    """
    return _name(_one(event_or_record))


def object_version(event_or_record: Mapping[str, Any], context: object = None) -> str:
    """``bucket/key@versionId`` (or ``@eTag`` when unversioned): a changed file runs again."""
    found = _one(event_or_record)
    version = found.version_id() or found.optional_text(found.shape.etag)
    if version:
        return f"{_name(found)}@{version}"
    raise EventError(
        "the object has neither a versionId nor an eTag (a delete notification of an "
        "unversioned bucket carries neither); key it by object_key or notification instead",
        path=found.object_path,
        source=EVENT_SOURCE,
    )


def notification(event_or_record: Mapping[str, Any], context: object = None) -> str:
    """``bucket/key#kind#sequencer``: exactly S3's own duplicate deliveries are skipped.

    Each event S3 emits for an object has its own ``sequencer``, and its kind (``ObjectCreated``,
    ``ObjectRemoved``, ``ObjectRestore:Completed``, ...) is part of the key too, so a delete
    after a create runs, and so does every re-upload. The default key of
    ``@idempotent_records`` for S3. For the event kinds S3 gives no sequencer (restores,
    tagging, ACLs, transitions), the event's time stands in.
    """
    found = _one(event_or_record)
    event_time = found.event_time()
    order = found.optional_text(found.shape.sequencer) or (
        event_time.isoformat() if event_time else None
    )
    if not order:
        raise EventError(
            "the notification has neither a sequencer nor an event time to tell it from "
            "another event on the same object",
            path=found.object_path,
            source=EVENT_SOURCE,
        )
    return f"{_name(found)}#{event_kind(found.event_name())}#{order}"


def event_kind(event_name: str) -> str:
    """The kind of an S3 event, one name whichever path said it.

    ``ObjectCreated:Put`` and EventBridge's ``Object Created`` are both ``ObjectCreated``;
    ``ObjectRestore:Completed`` and ``Object Restore Completed`` are ``ObjectRestore:Completed``.
    """
    if event_name in _EVENTBRIDGE_KINDS:
        return _EVENTBRIDGE_KINDS[event_name]
    return _FAMILIES.get(event_name.split(":", 1)[0], event_name)


def is_test_event(event_or_record: object) -> bool:
    """Whether an SQS message or SNS notification carries S3's ``s3:TestEvent`` (no object).

    Never raises: a malformed record is not a test event, and its key function says why.
    """
    if not isinstance(event_or_record, Mapping):
        return False
    text = _carried_text(event_or_record)
    # Most messages are not test events: look for the name before parsing any JSON.
    if text is None or TEST_EVENT not in text:
        return False
    try:
        document = _event.parse_json(text, what="", path="", source=EVENT_SOURCE)
        if _is_sns_envelope(document):
            document = _event.parse_json(document["Message"], what="", path="", source=EVENT_SOURCE)
    except EventError:
        return False
    return _is_test_document(document)


class S3Object(NamedTuple):
    """One object of an S3 notification (by any path), with its key decoded."""

    bucket: str
    key: str
    """The object key, URL-decoded."""
    size: int | None
    """Bytes; absent from delete notifications."""
    etag: str | None
    version_id: str | None
    """``None`` for an unversioned bucket (S3's ``"null"`` version is reported as ``None``)."""
    sequencer: str | None
    """Orders the events of one key; equal on duplicate deliveries of one event."""
    event_name: str
    """E.g. ``ObjectCreated:Put``, ``ObjectRemoved:Delete``; from EventBridge its
    ``detail-type`` (``Object Created``). :func:`event_kind` gives one name for both."""
    event_time: datetime | None
    """When S3 emitted the event, aware UTC."""
    raw: Mapping[str, Any]
    """The S3 record (or EventBridge event) as delivered, taken out of any message carrying it."""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> S3Object:
        """Parse one S3 record, or the one notification a message or EventBridge event carries."""
        return _one(record).parse()


def objects(event: Mapping[str, Any]) -> list[S3Object]:
    """Every object of an event, in delivery order, by any path.

    An S3 notification event, an SQS or SNS event whose messages carry notifications (test
    events hold none), or an EventBridge event.
    """
    mapping = _event.as_mapping(event, source=EVENT_SOURCE)
    if _event.RECORDS not in mapping and mapping.get("source") != EVENTBRIDGE_SOURCE:
        raise EventError(
            f"the event has no {_event.RECORDS!r} list", path=_event.RECORDS, source=EVENT_SOURCE
        )
    return [found.parse() for found in _objects_in(mapping, "")]


class _Shape(NamedTuple):
    """Where one way of telling about an object keeps each field (``None``: it has none)."""

    bucket: str
    key: str
    encoded: bool
    """Whether the key is URL-encoded."""
    object: str
    """The mapping that describes the object, for errors."""
    size: str | None
    etag: str | None
    version: str
    sequencer: str | None
    event_name: str | None
    event_time: str | None


_RECORD = _Shape(
    "s3.bucket.name",
    "s3.object.key",
    True,
    "s3.object",
    "s3.object.size",
    "s3.object.eTag",
    "s3.object.versionId",
    "s3.object.sequencer",
    "eventName",
    "eventTime",
)
_EVENTBRIDGE = _Shape(
    "detail.bucket.name",
    # EventBridge writes the key as it is: decoding it would turn a "+" into a space.
    "detail.object.key",
    False,
    "detail.object",
    "detail.object.size",
    "detail.object.etag",
    "detail.object.version-id",
    "detail.object.sequencer",
    "detail-type",
    "time",
)
_TASK = _Shape(
    "s3Bucket",  # schema 2.0; schema 1.0 has s3BucketArn instead
    "s3Key",
    True,
    "",
    None,
    None,
    "s3VersionId",
    None,
    None,
    None,
)
"""An S3 Batch Operations task: an object, no event."""


class _Located(NamedTuple):
    """An object's description found at ``root``, read field by field as a key needs it."""

    mapping: Mapping[str, Any]
    root: str
    shape: _Shape

    @property
    def object_path(self) -> str:
        return _event.join(self.root, self.shape.object)

    def optional_text(self, path: str | None) -> str | None:
        if path is None:
            return None
        return _event.optional_text(self.mapping, path, root=self.root, source=EVENT_SOURCE)

    def bucket(self) -> str:
        if self.shape is _TASK and self.mapping.get("s3Bucket") is None:
            if self.mapping.get("s3BucketArn") is None:  # the task alone does not say its schema
                raise EventError(
                    "a task names its bucket in 's3BucketArn' (schema 1.0) or 's3Bucket' (2.0); "
                    "this one has neither",
                    path=_event.join(self.root, "s3BucketArn"),
                    source=EVENT_SOURCE,
                )
            arn = _event.text(self.mapping, "s3BucketArn", root=self.root, source=EVENT_SOURCE)
            return arn.rpartition(":")[2]  # arn:aws:s3:::bucket
        return _event.text(self.mapping, self.shape.bucket, root=self.root, source=EVENT_SOURCE)

    def key(self) -> str:
        raw = _event.text(self.mapping, self.shape.key, root=self.root, source=EVENT_SOURCE)
        if not self.shape.encoded:
            return raw
        return decode_key(raw, path=_event.join(self.root, self.shape.key))

    def version_id(self) -> str | None:
        """``None`` for an unversioned object.

        A version-suspended bucket reports ``"null"``: that version is overwritten in place by
        the next upload, so it cannot tell two contents apart and the eTag is used instead.
        """
        version = self.optional_text(self.shape.version)
        return None if not version or version == _NULL_VERSION else version

    def event_name(self) -> str:
        if self.shape.event_name is None:
            return BATCH_OPERATIONS_TASK
        return _event.text(self.mapping, self.shape.event_name, root=self.root, source=EVENT_SOURCE)

    def event_time(self) -> datetime | None:
        if self.shape.event_time is None:
            return None
        return _event.iso_time(
            self.mapping, self.shape.event_time, root=self.root, source=EVENT_SOURCE
        )

    def parse(self) -> S3Object:
        size = self.shape.size
        return S3Object(
            bucket=self.bucket(),
            key=self.key(),
            size=None
            if size is None
            else _event.optional_int(self.mapping, size, root=self.root, source=EVENT_SOURCE),
            etag=self.optional_text(self.shape.etag),
            version_id=self.version_id(),
            sequencer=self.optional_text(self.shape.sequencer),
            event_name=self.event_name(),
            event_time=self.event_time(),
            raw=self.mapping,
        )


def _one(event_or_record: object) -> _Located:
    """The single object of a whole event or of one record, by any path."""
    value = _event.as_mapping(event_or_record, source=EVENT_SOURCE)
    items = value.get(_event.RECORDS)
    if _event.is_list(items) and len(items) > 1:
        raise EventError(
            f"the event has {len(items)} records; use idempotent_records for per-record "
            "idempotency",
            path=_event.RECORDS,
            source=EVENT_SOURCE,
        )
    found = _objects_in(value, "", top=True)
    if len(found) == 1:
        return found[0]
    if not found:
        raise EventError(
            f"an S3 test event ({TEST_EVENT}) names no object; @idempotent_records "
            "acknowledges it without calling the handler",
            path="",
            source=EVENT_SOURCE,
        )
    raise EventError(
        f"the message carries {len(found)} S3 records; use idempotent_records on the "
        "notification itself, or key the message by its id",
        path=found[1].object_path,
        source=EVENT_SOURCE,
    )


def _objects_in(value: object, root: str, *, top: bool = False) -> list[_Located]:
    """Every object in ``value`` found at ``root``, through any message that carries them.

    ``top``: ``value`` is what the caller passed, so a lone record may leave out its
    ``eventSource``; else ``value`` was carried (a record of a list, a message's text).
    """
    mapping = _event.as_mapping(value, path=root, source=EVENT_SOURCE)
    if _event.RECORDS in mapping:
        return _in_records(mapping, root)
    if _is_test_document(mapping):
        return []
    carrier = _carrier_field(mapping)
    if carrier is not None:
        return _carried(mapping, carrier, root)
    return [_notification_at(mapping, root, top=top)]


def _in_records(mapping: Mapping[str, Any], root: str) -> list[_Located]:
    """The objects of every record of a ``Records`` list (S3's, SQS's or SNS's)."""
    path = _event.join(root, _event.RECORDS)
    items = mapping[_event.RECORDS]
    if not _event.is_list(items) or not items:
        raise EventError(
            f"{_event.RECORDS!r} must be a non-empty list, got {items!r:.60}",
            path=path,
            source=EVENT_SOURCE,
        )
    return [
        found for index, item in enumerate(items) for found in _objects_in(item, f"{path}[{index}]")
    ]


def _carrier_field(mapping: Mapping[str, Any]) -> str | None:
    """Where a message keeps the text that may carry a notification; ``None``: not a message."""
    if _is_sns_envelope(mapping):  # SNS to SQS without raw message delivery: the queue's body
        return "Message"
    found = _event.event_source(mapping)
    if found == _SQS:
        return "body"
    if found == _event.SNS and "Sns" in mapping:
        return "Sns.Message"
    return None


def _notification_at(mapping: Mapping[str, Any], root: str, *, top: bool) -> _Located:
    """The object of an S3 record, an EventBridge event or a Batch Operations task at ``root``."""
    if mapping.get("source") == EVENTBRIDGE_SOURCE and "detail" in mapping:
        return _Located(mapping, root, _EVENTBRIDGE)
    if "taskId" in mapping:  # a task: one without s3Key is named by its own field
        return _Located(mapping, root, _TASK)
    found = _event.event_source(mapping)
    if found == EVENT_SOURCE or (found is None and top):
        return _Located(mapping, root, _RECORD)
    if found is None and root.endswith(("body", "Message")):
        raise EventError(
            f"{root} is not an S3 notification (no {_event.RECORDS!r}, not an SNS "
            "notification, not an S3 test event)",
            path=root,
            source=EVENT_SOURCE,
        )
    got = "none" if found is None else repr(found)
    raise EventError(
        f"expected a record from {EVENT_SOURCE!r}, or an SQS or SNS record or EventBridge event "
        f"carrying one; got eventSource {got}",
        path=_event.join(root, "eventSource"),
        source=EVENT_SOURCE,
    )


def _carried(mapping: Mapping[str, Any], path: str, root: str) -> list[_Located]:
    """The objects of the JSON text at ``path`` of a message (a body, an SNS message)."""
    where = _event.join(root, path)
    text = _event.field(mapping, path, root=root, source=EVENT_SOURCE)
    if not isinstance(text, str):
        raise EventError(f"expected JSON text, got {text!r:.60}", path=where, source=EVENT_SOURCE)
    document = _event.parse_json(text, what=where, path=where, source=EVENT_SOURCE)
    return _objects_in(document, where)


def _carried_text(record: Mapping[str, Any]) -> str | None:
    """The text an SQS message (``body``) or SNS record (``Sns.Message``) carries."""
    found = _event.event_source(record)
    if found == _SQS:
        text = record.get("body")
    elif found == _event.SNS:
        sns = record.get("Sns")
        text = sns.get("Message") if isinstance(sns, Mapping) else None
    else:
        return None
    return text if isinstance(text, str) else None


def _is_sns_envelope(document: object) -> bool:
    """Whether ``document`` is SNS's JSON notification (what a queue gets without raw delivery)."""
    return (
        isinstance(document, Mapping)
        and document.get("Type") == "Notification"
        and isinstance(document.get("Message"), str)
        and "TopicArn" in document
    )


def _is_test_document(document: object) -> bool:
    """Whether ``document`` is S3's test message."""
    return isinstance(document, Mapping) and document.get("Event") == TEST_EVENT


def _name(found: _Located) -> str:
    """``bucket/key``, the object's name."""
    return f"{found.bucket()}/{found.key()}"


def decode_key(raw: str, *, path: str) -> str:
    """An object key as S3 writes it URL-encoded, decoded; :class:`EventError` at ``path``."""
    try:
        # strict: S3 keys are valid UTF-8, and a replacement character could merge two keys.
        decoded = unquote_plus(raw, errors="strict")
        decoded.encode("utf-8")  # a lone surrogate (from JSON "\ud800") is not UTF-8 either
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise EventError(
            f"the object key {raw!r:.80} does not decode to UTF-8", path=path, source=EVENT_SOURCE
        ) from None
    return decoded
