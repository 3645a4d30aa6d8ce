"""Reading AWS events safely: every malformed shape becomes an :class:`EventError` naming a path.

Paths are written relative to what the caller passed in: ``Records[0].s3.object.key`` for a
whole event, ``s3.object.key`` for one record, and ``""`` for the value itself (a string given
where an event was expected). A parser never lets a raw ``KeyError`` or ``TypeError`` escape:
those would read as bugs in the handler rather than as a malformed delivery.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeGuard, TypeVar

from idemlock.errors import EventError

RECORDS = "Records"
"""The list of records in a batch event (S3, SQS, DynamoDB Streams, Kinesis)."""

_MISSING: Any = object()
"""Returned by :func:`_walk` for a missing last segment; never leaves this module."""


def join(root: str, path: str) -> str:
    """``root.path``, or whichever of the two is not empty."""
    if not root:
        return path
    if not path:
        return root
    return f"{root}.{path}"


def _kind(value: object) -> str:
    """The name of a value's type, for messages (``"str"``, ``"list"``, ``"None"``)."""
    return "None" if value is None else type(value).__name__


def is_list(value: object) -> TypeGuard[Sequence[Any]]:
    """Whether ``value`` is a JSON array (a sequence that is not text or bytes)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def as_mapping(value: object, *, path: str = "", source: str | None = None) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else :class:`EventError` at ``path``."""
    if not isinstance(value, Mapping):
        what = path or "the event"
        raise EventError(f"{what} is a {_kind(value)}, not a mapping", path=path, source=source)
    return value


def records(event: object, source: str) -> list[Mapping[str, Any]]:
    """The records of a batch event, each checked to come from ``source`` (e.g. ``"aws:s3"``)."""
    event = as_mapping(event, source=source)
    if RECORDS not in event:
        raise EventError(f"the event has no {RECORDS!r} list", path=RECORDS, source=source)
    items = event[RECORDS]
    if not is_list(items) or not items:
        raise EventError(
            f"{RECORDS!r} must be a non-empty list, got {items!r:.60}", path=RECORDS, source=source
        )
    checked = []
    for index, item in enumerate(items):
        root = f"{RECORDS}[{index}]"
        checked.append(check_record(item, source, root=root))
    return checked


View = TypeVar("View")


def parse_records(
    event: object, source: str, parse: Callable[[Mapping[str, Any], str], View]
) -> list[View]:
    """Every record of a batch event through ``parse(record, root)``, in delivery order."""
    return [
        parse(record, f"{RECORDS}[{index}]") for index, record in enumerate(records(event, source))
    ]


def parse_json(text: str | bytes, *, what: str, path: str, source: str) -> Any:
    """``text`` parsed as JSON; :class:`EventError` at ``path`` naming ``what`` if it is not."""
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError for binary data
        raise EventError(f"{what} is not JSON: {exc}", path=path, source=source) from exc


SNS = "aws:sns"
"""The one source whose records spell the field ``EventSource``, with a capital E."""


def source_field(source: str) -> str:
    """The name of the field that says which source a record comes from."""
    return "EventSource" if source == SNS else "eventSource"


def event_source(record: Mapping[str, Any]) -> object:
    """What a record says it comes from: its ``eventSource``, else its ``EventSource`` (SNS)."""
    found = record.get("eventSource")
    return record.get("EventSource") if found is None else found


def check_record(record: object, source: str, *, root: str = "") -> Mapping[str, Any]:
    """``record`` if it is a mapping whose ``eventSource``, when present, is ``source``.

    Inside a batch event the ``eventSource`` is required (Lambda always sets it); on a lone
    record it may be left out, so that tests and callers can build minimal records.
    """
    record = as_mapping(record, path=root, source=source)
    name = source_field(source)
    path = join(root, name)
    found = record.get(name, _MISSING)
    if found is _MISSING and not root:
        return record
    if found != source:
        got = "none" if found is _MISSING else repr(found)
        raise EventError(
            f"expected a record from {source!r}, got {name} {got}", path=path, source=source
        )
    return record


def one_record_at(event_or_record: object, source: str) -> tuple[Mapping[str, Any], str]:
    """The single record of an event, or the record itself, with the path it sits at."""
    value = as_mapping(event_or_record, source=source)
    if RECORDS not in value:
        return check_record(value, source), ""
    items = records(value, source)
    if len(items) != 1:
        raise EventError(
            f"the event has {len(items)} records; use idempotent_records for per-record "
            "idempotency",
            path=RECORDS,
            source=source,
        )
    return items[0], f"{RECORDS}[0]"


def one_record(event_or_record: object, source: str) -> Mapping[str, Any]:
    """The single record of a whole event, or the record itself when given one record."""
    return one_record_at(event_or_record, source)[0]


def _walk(value: Mapping[str, Any], path: str, *, root: str, source: str | None) -> Any:
    """The value at dotted ``path``; ``_MISSING`` only when the last segment is absent."""
    full = join(root, path)
    segments = path.split(".")
    current: Any = value
    for depth, segment in enumerate(segments):
        if not isinstance(current, Mapping):
            where = join(root, ".".join(segments[:depth])) or "the event"
            raise EventError(
                f"{where} is a {_kind(current)}, not a mapping", path=full, source=source
            )
        if segment not in current:
            if depth == len(segments) - 1:
                return _MISSING
            raise EventError(f"missing {segment!r}", path=full, source=source)
        current = current[segment]
    return current


def field(
    mapping: Mapping[str, Any], path: str, *, root: str = "", source: str | None = None
) -> Any:
    """The value at dotted ``path`` (``"s3.object.key"``); :class:`EventError` if it is absent."""
    value = _walk(mapping, path, root=root, source=source)
    if value is _MISSING:
        raise EventError(
            f"missing {path.rsplit('.', 1)[-1]!r}", path=join(root, path), source=source
        )
    return value


def optional_field(
    mapping: Mapping[str, Any], path: str, *, root: str = "", source: str | None = None
) -> Any:
    """The value at dotted ``path``, ``None`` if its last segment is absent.

    The parents must exist: a record without ``s3.object`` is malformed, while an object
    without ``versionId`` is an unversioned bucket.
    """
    value = _walk(mapping, path, root=root, source=source)
    return None if value is _MISSING else value


def text(
    mapping: Mapping[str, Any], path: str, *, root: str = "", source: str | None = None
) -> str:
    """The non-empty string at ``path``: key material, so ``None`` or ``""`` are errors."""
    value = field(mapping, path, root=root, source=source)
    if not isinstance(value, str) or not value:
        raise EventError(
            f"expected a non-empty string, got {value!r:.60}", path=join(root, path), source=source
        )
    return value


def optional_text(
    mapping: Mapping[str, Any], path: str, *, root: str = "", source: str | None = None
) -> str | None:
    """The string at ``path``, ``None`` when absent or null; a non-string is an error."""
    value = optional_field(mapping, path, root=root, source=source)
    if value is not None and not isinstance(value, str):
        raise EventError(
            f"expected a string, got a {_kind(value)}", path=join(root, path), source=source
        )
    return value


def optional_int(
    mapping: Mapping[str, Any], path: str, *, root: str = "", source: str | None = None
) -> int | None:
    """The integer at ``path``, ``None`` when absent or null."""
    value = optional_field(mapping, path, root=root, source=source)
    # bool is an int to Python, but never a size or a count in an event.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise EventError(
            f"expected an integer, got a {_kind(value)}", path=join(root, path), source=source
        )
    return value


def optional_mapping(
    mapping: Mapping[str, Any], path: str, *, root: str = "", source: str | None = None
) -> dict[str, Any]:
    """A copy of the mapping at ``path``, empty when absent or null."""
    value = optional_field(mapping, path, root=root, source=source)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EventError(
            f"expected a mapping, got a {_kind(value)}", path=join(root, path), source=source
        )
    return dict(value)


def iso_time(
    mapping: Mapping[str, Any], path: str, *, root: str = "", source: str | None = None
) -> datetime | None:
    """The ISO 8601 time at ``path`` as an aware UTC datetime, ``None`` when absent."""
    value = optional_text(mapping, path, root=root, source=source)
    if value is None:
        return None
    # Python 3.10's fromisoformat does not read the "Z" suffix AWS writes.
    normalised = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(normalised)
    except ValueError:
        raise EventError(
            f"not an ISO 8601 time: {value!r:.60}", path=join(root, path), source=source
        ) from None
    if parsed.tzinfo is None:  # AWS times are UTC even when they do not say so
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def epoch_time(
    mapping: Mapping[str, Any], path: str, *, root: str = "", source: str | None = None
) -> datetime | None:
    """The epoch-seconds number at ``path`` as an aware UTC datetime, ``None`` when absent."""
    value = optional_field(mapping, path, root=root, source=source)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EventError(
            f"expected epoch seconds, got a {_kind(value)}", path=join(root, path), source=source
        )
    return _from_epoch(value, 1, "epoch seconds", path=join(root, path), source=source)


def epoch_millis(
    mapping: Mapping[str, Any], path: str, *, root: str = "", source: str | None = None
) -> datetime | None:
    """The integer epoch milliseconds at ``path`` as an aware UTC datetime, ``None`` when absent."""
    value = optional_int(mapping, path, root=root, source=source)
    if value is None:
        return None
    return _from_epoch(value, 1000, "epoch milliseconds", path=join(root, path), source=source)


def _from_epoch(
    value: float, per_second: int, unit: str, *, path: str, source: str | None
) -> datetime:
    """``value``, counted ``per_second`` a second, as an aware UTC datetime; else EventError."""
    try:
        return datetime.fromtimestamp(value / per_second, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):  # past year 9999, or the platform's range
        raise EventError(f"{unit} out of range: {value!r:.60}", path=path, source=source) from None


def base64_bytes(value: object, *, path: str, source: str | None = None) -> bytes:
    """Decode base64 text, as Lambda delivers binary payloads; bytes pass through unchanged."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)  # already decoded, e.g. read through boto3 rather than Lambda
    if not isinstance(value, str):
        raise EventError(f"expected base64 text, got a {_kind(value)}", path=path, source=source)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EventError(f"invalid base64: {value!r:.60}", path=path, source=source) from None
