"""Unit tests for :mod:`idemlock.sources.s3`: object keys, version keys, the S3Object view."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from idemlock.errors import EventError
from idemlock.sources import s3
from tests.sources_helpers import load_event, record_of, single

PUT_KEY = "user-uploads/incoming/2026-11/sample usersデータ (1).csv"
"""The decoded bucket/key of s3-put.json: ``+`` is a space, the %-escapes are UTF-8."""

PUT_VERSION = "096fKKXTRTtl3on89fVO.nfljtsv6qko"


def _with_object(**changes: Any) -> dict[str, Any]:
    """The record of s3-put.json with fields of ``s3.object`` changed (None deletes)."""
    record = record_of("s3-put")
    obj = record["s3"]["object"]
    for name, value in changes.items():
        if value is None:
            obj.pop(name, None)
        else:
            obj[name] = value
    return record


@pytest.mark.parametrize(
    "event_or_record",
    [load_event("s3-put"), record_of("s3-put")],
    ids=["event", "record"],
)
def test_object_key_of_event_and_of_record(event_or_record: dict[str, Any]) -> None:
    """object_key gives bucket/decoded-key for a whole single-record event and for its record."""
    assert s3.object_key(event_or_record) == PUT_KEY


def test_object_key_ignores_the_lambda_context() -> None:
    """object_key takes (event, context), so it keys a handler(event, context) directly."""
    assert s3.object_key(load_event("s3-put"), object()) == PUT_KEY


@pytest.mark.parametrize(
    ("index", "key"),
    [(0, "user-uploads/a b.csv"), (1, "user-uploads/a+b.csv")],
    ids=["plus-is-space", "escaped-plus-is-plus"],
)
def test_object_key_decodes_plus_and_escaped_plus(index: int, key: str) -> None:
    """``a+b.csv`` is the object ``a b.csv``; ``a%2Bb.csv`` is the object ``a+b.csv``."""
    assert s3.object_key(record_of("s3-put-two-records", index)) == key
    assert s3.object_key(single("s3-put-two-records", index)) == key


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("%E3%83%87%E3%83%BC%E3%82%BF.csv", "データ.csv"),
        ("dir%2Fsub/file+name.txt", "dir/sub/file name.txt"),
        ("100%25.txt", "100%.txt"),
        ("plain.csv", "plain.csv"),
    ],
)
def test_object_key_decodes_url_escapes(raw: str, decoded: str) -> None:
    """Percent-escapes decode as UTF-8, including an escaped slash and an escaped percent."""
    assert s3.object_key(_with_object(key=raw)) == f"user-uploads/{decoded}"


def test_reuploads_share_object_key_but_not_object_version() -> None:
    """A re-upload keeps object_key (skipped) but changes object_version (processed again)."""
    first = _with_object(versionId="v1")
    second = _with_object(versionId="v2", eTag="ffff")
    assert s3.object_key(first) == s3.object_key(second)
    assert s3.object_version(first) != s3.object_version(second)


@pytest.mark.parametrize(
    "event_or_record",
    [load_event("s3-put"), record_of("s3-put")],
    ids=["event", "record"],
)
def test_object_version_uses_version_id(event_or_record: dict[str, Any]) -> None:
    """object_version gives bucket/key@versionId when the bucket is versioned."""
    assert s3.object_version(event_or_record) == f"{PUT_KEY}@{PUT_VERSION}"


@pytest.mark.parametrize(
    ("index", "key"),
    [
        (0, "user-uploads/a b.csv@0cc175b9c0f1b6a831c399e269772661"),
        (1, "user-uploads/a+b.csv@92eb5ffee6ae2fec3ad71c777531578f"),
    ],
)
def test_object_version_falls_back_to_etag(index: int, key: str) -> None:
    """Without a versionId (unversioned bucket) object_version uses the eTag."""
    assert s3.object_version(record_of("s3-put-two-records", index)) == key
    assert s3.object_version(single("s3-put-two-records", index)) == key


@pytest.mark.parametrize("version", ["null", ""])
def test_object_version_treats_null_version_as_unversioned(version: str) -> None:
    """S3's ``"null"`` version (versioning suspended) is overwritten in place: the eTag decides."""
    record = _with_object(versionId=version, eTag="abc123")
    assert s3.object_version(record) == f"{PUT_KEY}@abc123"


def test_object_version_without_version_or_etag_is_event_error() -> None:
    """A record with neither versionId nor eTag cannot be keyed by version: EventError."""
    with pytest.raises(EventError) as caught:
        s3.object_version(_with_object(versionId=None, eTag=None))
    assert caught.value.path == "s3.object"
    assert caught.value.source == "aws:s3"
    assert "object_key" in str(caught.value)


@pytest.mark.parametrize("key_fn", [s3.object_key, s3.object_version])
def test_two_record_event_is_refused(key_fn: Callable[..., str]) -> None:
    """A key function for one event refuses a two-record event, naming idempotent_records."""
    with pytest.raises(EventError) as caught:
        key_fn(load_event("s3-put-two-records"))
    assert caught.value.path == "Records"
    assert "idempotent_records" in str(caught.value)


def test_s3_object_from_record() -> None:
    """S3Object.from_record reads every field, with the key decoded and the time aware UTC."""
    obj = s3.S3Object.from_record(record_of("s3-put"))
    assert obj.bucket == "user-uploads"
    assert obj.key == "incoming/2026-11/sample usersデータ (1).csv"
    assert obj.size == 1024
    assert obj.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert obj.version_id == PUT_VERSION
    assert obj.sequencer == "0055AED6DCD90281E5"
    assert obj.event_name == "ObjectCreated:Put"
    assert obj.event_time == datetime(2026, 11, 20, 1, 2, 3, 456000, tzinfo=timezone.utc)
    assert obj.event_time is not None
    assert obj.event_time.utcoffset() == timedelta(0)
    assert obj.raw == record_of("s3-put")


def test_objects_lists_every_record_in_order() -> None:
    """objects() parses every record, keys decoded, in delivery order."""
    objects = s3.objects(load_event("s3-put-two-records"))
    assert [(o.key, o.size, o.version_id) for o in objects] == [
        ("a b.csv", 10, None),
        ("a+b.csv", 11, None),
    ]
    assert objects[1].event_time == datetime(2026, 11, 20, 1, 2, 4, 1000, tzinfo=timezone.utc)


def test_delete_notification_has_no_size_or_etag() -> None:
    """A delete notification carries no size or eTag: those fields are None."""
    record = _with_object(size=None, eTag=None, versionId=None)
    record["eventName"] = "ObjectRemoved:Delete"
    obj = s3.S3Object.from_record(record)
    assert (obj.size, obj.etag, obj.version_id) == (None, None, None)
    assert obj.event_name == "ObjectRemoved:Delete"


@pytest.mark.parametrize(
    ("event_time", "expected"),
    [
        ("2026-11-20T01:02:03Z", datetime(2026, 11, 20, 1, 2, 3, tzinfo=timezone.utc)),
        ("2026-11-20T10:02:03+09:00", datetime(2026, 11, 20, 1, 2, 3, tzinfo=timezone.utc)),
        ("2026-11-20T01:02:03", datetime(2026, 11, 20, 1, 2, 3, tzinfo=timezone.utc)),
    ],
)
def test_event_time_is_aware_utc(event_time: str, expected: datetime) -> None:
    """eventTime becomes an aware UTC datetime, whatever offset (or none) it is written with."""
    record = record_of("s3-put")
    record["eventTime"] = event_time
    parsed = s3.S3Object.from_record(record).event_time
    assert parsed == expected
    assert parsed is not None
    assert parsed.tzinfo == timezone.utc


def test_duplicate_deliveries_compare_equal() -> None:
    """Two deliveries of one notification parse to equal S3Objects sharing the sequencer."""
    first = s3.S3Object.from_record(record_of("s3-put"))
    second = s3.S3Object.from_record(record_of("s3-put"))
    assert first == second
    assert first.sequencer == second.sequencer


def test_s3_object_is_frozen() -> None:
    """An S3Object cannot be changed."""
    obj = s3.S3Object.from_record(record_of("s3-put"))
    with pytest.raises(AttributeError):
        obj.key = "other"  # type: ignore[misc]


def test_from_record_refuses_a_record_of_another_source() -> None:
    """S3Object.from_record of a Kinesis record is an EventError at eventSource."""
    with pytest.raises(EventError) as caught:
        s3.S3Object.from_record(record_of("kinesis"))
    assert caught.value.path == "eventSource"


def test_from_record_of_a_message_that_carries_no_notification() -> None:
    """An SQS message whose body is not an S3 notification is an EventError at body (an SQS
    message is a carrier of S3 notifications now, so it is no longer refused at eventSource)."""
    with pytest.raises(EventError) as caught:
        s3.S3Object.from_record(record_of("sqs"))
    assert caught.value.path == "body"
    assert "not an S3 notification" in str(caught.value)
