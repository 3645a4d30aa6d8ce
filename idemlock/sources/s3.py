"""S3 event notifications: keys by object name or by object version, and a parsed view.

S3 writes object keys URL-encoded with ``+`` for a space (``my+file%281%29.csv`` is
``my file(1).csv``), so every key here is decoded with :func:`urllib.parse.unquote_plus`.
Duplicate deliveries of one notification share the object's ``sequencer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from idemlock.errors import EventError
from idemlock.sources import _event

EVENT_SOURCE = "aws:s3"
"""The ``eventSource`` of an S3 notification record."""

_NULL_VERSION = "null"
"""The version ID S3 gives objects written while versioning is off or suspended."""


def object_key(event_or_record: Mapping[str, Any], context: object = None) -> str:
    """``bucket/key`` (decoded): a re-upload of a processed file is skipped.

    Takes a whole single-record event or one record; ``context`` is ignored, so this can be the
    key function of a ``handler(event, context)``.
    """
    record, root = _event.one_record_at(event_or_record, EVENT_SOURCE)
    return f"{_bucket(record, root)}/{_decoded_key(record, root)}"


def object_version(event_or_record: Mapping[str, Any], context: object = None) -> str:
    """``bucket/key@versionId`` (or ``@eTag`` when unversioned): a changed file runs again."""
    record, root = _event.one_record_at(event_or_record, EVENT_SOURCE)
    name = f"{_bucket(record, root)}/{_decoded_key(record, root)}"
    version = _version_id(record, root)
    if version is not None:
        return f"{name}@{version}"
    etag = _event.optional_text(record, "s3.object.eTag", root=root, source=EVENT_SOURCE)
    if etag:
        return f"{name}@{etag}"
    raise EventError(
        "the object has neither a versionId nor an eTag (a delete notification of an "
        "unversioned bucket carries neither); key it by object_key instead",
        path=_event.join(root, "s3.object"),
        source=EVENT_SOURCE,
    )


@dataclass(frozen=True)
class S3Object:
    """One object of an S3 notification, with its key decoded."""

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
    """E.g. ``ObjectCreated:Put``, ``ObjectRemoved:Delete``."""
    event_time: datetime | None
    """When S3 emitted the event, aware UTC."""
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    """The record as delivered."""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> S3Object:
        """Parse one S3 notification record."""
        return _parse(_event.check_record(record, EVENT_SOURCE), "")


def objects(event: Mapping[str, Any]) -> list[S3Object]:
    """Every object of an S3 notification event, in delivery order."""
    return _event.parse_records(event, EVENT_SOURCE, _parse)


def _parse(record: Mapping[str, Any], root: str) -> S3Object:
    """Build an :class:`S3Object` from a checked record found at ``root``."""
    src = EVENT_SOURCE
    return S3Object(
        bucket=_bucket(record, root),
        key=_decoded_key(record, root),
        size=_event.optional_int(record, "s3.object.size", root=root, source=src),
        etag=_event.optional_text(record, "s3.object.eTag", root=root, source=src),
        version_id=_version_id(record, root),
        sequencer=_event.optional_text(record, "s3.object.sequencer", root=root, source=src),
        event_name=_event.text(record, "eventName", root=root, source=src),
        event_time=_event.iso_time(record, "eventTime", root=root, source=src),
        raw=record,
    )


def _bucket(record: Mapping[str, Any], root: str) -> str:
    """The bucket name of a record."""
    return _event.text(record, "s3.bucket.name", root=root, source=EVENT_SOURCE)


def _decoded_key(record: Mapping[str, Any], root: str) -> str:
    """The object key of a record, URL-decoded (``+`` is a space, ``%2B`` a plus)."""
    raw = _event.text(record, "s3.object.key", root=root, source=EVENT_SOURCE)
    try:
        # strict: S3 keys are valid UTF-8, and a replacement character could merge two keys.
        decoded = unquote_plus(raw, errors="strict")
        decoded.encode("utf-8")  # a lone surrogate (from JSON "\ud800") is not UTF-8 either
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise EventError(
            f"the object key {raw!r:.80} does not decode to UTF-8",
            path=_event.join(root, "s3.object.key"),
            source=EVENT_SOURCE,
        ) from None
    return decoded


def _version_id(record: Mapping[str, Any], root: str) -> str | None:
    """The object's version ID, ``None`` for an unversioned object.

    A version-suspended bucket reports ``"null"``: that version is overwritten in place by the
    next upload, so it cannot tell two contents apart and the eTag is used instead.
    """
    version = _event.optional_text(record, "s3.object.versionId", root=root, source=EVENT_SOURCE)
    return None if not version or version == _NULL_VERSION else version
