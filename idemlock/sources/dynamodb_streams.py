"""DynamoDB Streams records: the key, typed images turned into plain Python, what changed.

Images arrive in DynamoDB's typed JSON (``{"Price": {"N": "12.50"}}``). They are deserialized
here, without boto3, to the values boto3's ``TypeDeserializer`` gives: numbers become
:class:`~decimal.Decimal` (exact, as DynamoDB stores them: a float would turn ``12.50`` into a
binary approximation and could not hold DynamoDB's 38 significant digits), binary becomes
``bytes`` and sets become ``set``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, NamedTuple

from idemlock.errors import EventError
from idemlock.sources import _event

EVENT_SOURCE = "aws:dynamodb"
"""The ``eventSource`` of a DynamoDB Streams record."""

TTL_IDENTITY: Mapping[str, str] = MappingProxyType(
    {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
)
"""The ``userIdentity`` of a REMOVE that DynamoDB's time to live made."""

_NEEDS_OLD = frozenset({"MODIFY", "REMOVE"})
_NEEDS_NEW = frozenset({"INSERT", "MODIFY"})
"""The images an event name needs before :attr:`StreamRecord.changed` can compare."""


def sequence_key(event_or_record: Mapping[str, Any], context: object = None) -> str:
    """``streamARN#sequenceNumber``: unique across tables and shards, stable across retries.

    Takes a whole single-record event or one record; ``context`` is ignored. (Not the record's
    ``eventID``: every ``event_id`` in :mod:`idemlock.sources` is built on that field.)
    """
    return _sequence_key_at(*_event.one_record_at(event_or_record, EVENT_SOURCE))


def deserialize(value: Mapping[str, Any]) -> Any:
    """One typed attribute value (``{"N": "1"}``) as plain Python (``Decimal("1")``)."""
    return _deserialize(value, "")


def deserialize_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """A typed item image (``NewImage``, ``OldImage``, ``Keys``) as a plain dict."""
    return _deserialize_map(image, "")


class _Absent(enum.Enum):
    """The type of :data:`ABSENT` (an enum, so that it stays one object through copy and pickle)."""

    ABSENT = "ABSENT"

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent.ABSENT
"""The value of an attribute on the side of a :class:`Change` where it did not exist."""


class Change(NamedTuple):
    """An attribute's value before and after; :data:`ABSENT` where it did not exist."""

    old: Any
    new: Any


class StreamRecord(NamedTuple):
    """One DynamoDB Streams record, with its images deserialized."""

    sequence_key: str
    """Our key for the record: ``streamARN#sequenceNumber`` (see :func:`sequence_key`)."""
    source_arn: str
    """The table's stream ARN (``eventSourceARN``)."""
    event_name: str
    """``INSERT``, ``MODIFY`` or ``REMOVE``."""
    sequence_number: str
    keys: dict[str, Any]
    """The item's primary key attributes."""
    old: dict[str, Any] | None
    """The item before the change; ``None`` when the view type or the event carries none."""
    new: dict[str, Any] | None
    """The item after the change; ``None`` when the view type or the event carries none."""
    stream_view_type: str | None
    """``KEYS_ONLY``, ``NEW_IMAGE``, ``OLD_IMAGE`` or ``NEW_AND_OLD_IMAGES``."""
    created_at: datetime | None
    """``ApproximateCreationDateTime``, aware UTC."""
    size_bytes: int | None
    ttl_expired: bool
    """Whether DynamoDB's time to live deleted the item (a REMOVE by ``dynamodb.amazonaws.com``)."""
    raw: Mapping[str, Any]
    """The record as delivered."""

    @property
    def changed(self) -> dict[str, Change] | None:
        """The attributes whose value differs between old and new, added and removed included.

        An INSERT added every attribute of the new image, a REMOVE removed every attribute of
        the old one; ``{}`` means nothing changed. ``None`` means this stream cannot tell: its
        view type (``KEYS_ONLY``, or ``NEW_IMAGE`` for a MODIFY) does not carry the images the
        event needs.
        """
        old = self.old if self.event_name in _NEEDS_OLD else {}
        new = self.new if self.event_name in _NEEDS_NEW else {}
        if old is None or new is None:
            return None
        changes = {}
        for name in [*new, *(name for name in old if name not in new)]:
            before, after = old.get(name, ABSENT), new.get(name, ABSENT)
            if not _same(before, after):
                changes[name] = Change(before, after)
        return changes

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StreamRecord:
        """Parse one DynamoDB Streams record."""
        return _parse(_event.check_record(record, EVENT_SOURCE), "")


def stream_records(event: Mapping[str, Any]) -> list[StreamRecord]:
    """Every record of a DynamoDB Streams event, in stream order."""
    return _event.parse_records(event, EVENT_SOURCE, _parse)


def _parse(record: Mapping[str, Any], root: str) -> StreamRecord:
    """Build a :class:`StreamRecord` from a checked record found at ``root``."""
    src = EVENT_SOURCE
    data_root = _event.join(root, "dynamodb")
    data = _event.as_mapping(
        _event.field(record, "dynamodb", root=root, source=src), path=data_root, source=src
    )
    keys = _event.as_mapping(
        _event.field(data, "Keys", root=data_root, source=src),
        path=_event.join(data_root, "Keys"),
        source=src,
    )
    return StreamRecord(
        sequence_key=_sequence_key_at(record, root),
        source_arn=_event.text(record, "eventSourceARN", root=root, source=src),
        event_name=_event.text(record, "eventName", root=root, source=src),
        sequence_number=_sequence_number(record, root),
        keys=_deserialize_map(keys, _event.join(data_root, "Keys")),
        old=_image(data, "OldImage", data_root),
        new=_image(data, "NewImage", data_root),
        stream_view_type=_event.optional_text(data, "StreamViewType", root=data_root, source=src),
        created_at=_event.epoch_time(
            data, "ApproximateCreationDateTime", root=data_root, source=src
        ),
        size_bytes=_event.optional_int(data, "SizeBytes", root=data_root, source=src),
        ttl_expired=_event.optional_mapping(record, "userIdentity", root=root, source=src)
        == TTL_IDENTITY,
        raw=record,
    )


def _sequence_key_at(record: Mapping[str, Any], root: str) -> str:
    """:func:`sequence_key` of a record found at ``root``."""
    arn = _event.text(record, "eventSourceARN", root=root, source=EVENT_SOURCE)
    return f"{arn}#{_sequence_number(record, root)}"


def _sequence_number(record: Mapping[str, Any], root: str) -> str:
    """The record's ``dynamodb.SequenceNumber``."""
    return _event.text(record, "dynamodb.SequenceNumber", root=root, source=EVENT_SOURCE)


def _image(data: Mapping[str, Any], name: str, root: str) -> dict[str, Any] | None:
    """A deserialized image of the ``dynamodb`` section, ``None`` when not carried."""
    image = _event.optional_field(data, name, root=root, source=EVENT_SOURCE)
    return None if image is None else _deserialize_map(image, _event.join(root, name))


def _same(left: Any, right: Any) -> bool:
    """Equal values of equal types: ``True == Decimal(1)`` to Python, but not to DynamoDB."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


def _deserialize_map(value: object, path: str) -> dict[str, Any]:
    """A mapping of attribute names to typed values, deserialized."""
    attributes = _event.as_mapping(value, path=path, source=EVENT_SOURCE)
    return {
        name: _deserialize(typed, _event.join(path, str(name)))
        for name, typed in attributes.items()
    }


def _deserialize(value: object, path: str) -> Any:
    """One typed value found at ``path`` as plain Python."""
    typed = _event.as_mapping(value, path=path, source=EVENT_SOURCE)
    if len(typed) != 1:
        raise EventError(
            f"a typed attribute value has exactly one type tag, got {list(typed)!r}",
            path=path,
            source=EVENT_SOURCE,
        )
    [(tag, data)] = typed.items()
    reader = _READERS.get(tag)
    if reader is None:
        raise EventError(
            f"unknown DynamoDB type tag {tag!r} (expected one of {', '.join(_READERS)})",
            path=path,
            source=EVENT_SOURCE,
        )
    return reader(data, path)


def _string(data: object, path: str) -> str:
    """An ``S`` value."""
    if not isinstance(data, str):
        raise EventError(
            f"an S value must be a string, got {data!r:.60}", path=path, source=EVENT_SOURCE
        )
    return data


def _number(data: object, path: str) -> Decimal:
    """An ``N`` value, exact."""
    if not isinstance(data, str):
        raise EventError(
            f"an N value must be a string, got {data!r:.60}", path=path, source=EVENT_SOURCE
        )
    try:
        number = Decimal(data)  # the constructor is exact whatever the context's precision
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():  # DynamoDB has no NaN or Infinity
        raise EventError(f"not a DynamoDB number: {data!r:.60}", path=path, source=EVENT_SOURCE)
    return number


def _binary(data: object, path: str) -> bytes:
    """A ``B`` value: Lambda delivers binary as base64 text."""
    return _event.base64_bytes(data, path=path, source=EVENT_SOURCE)


_Reader = Callable[[object, str], Any]
"""Parses the data under one type tag, found at a path (for errors)."""


def _set_of(read: _Reader, tag: str) -> _Reader:
    """A reader for a set type whose members ``read`` parses."""

    def read_set(data: object, path: str) -> set[Any]:
        if not _event.is_list(data):
            raise EventError(
                f"an {tag} value must be a list, got {data!r:.60}", path=path, source=EVENT_SOURCE
            )
        return {read(member, f"{path}[{index}]") for index, member in enumerate(data)}

    return read_set


def _list(data: object, path: str) -> list[Any]:
    """An ``L`` value."""
    if not _event.is_list(data):
        raise EventError(
            f"an L value must be a list, got {data!r:.60}", path=path, source=EVENT_SOURCE
        )
    return [_deserialize(member, f"{path}[{index}]") for index, member in enumerate(data)]


def _null(data: object, path: str) -> None:
    """A ``NULL`` value."""


def _bool(data: object, path: str) -> bool:
    """A ``BOOL`` value."""
    if not isinstance(data, bool):
        raise EventError(
            f"a BOOL value must be true or false, got {data!r:.60}", path=path, source=EVENT_SOURCE
        )
    return data


_READERS: dict[str, _Reader] = {
    "S": _string,
    "N": _number,
    "B": _binary,
    "SS": _set_of(_string, "SS"),
    "NS": _set_of(_number, "NS"),
    "BS": _set_of(_binary, "BS"),
    "M": _deserialize_map,
    "L": _list,
    "NULL": _null,
    "BOOL": _bool,
}
"""The reader of each DynamoDB type tag."""
