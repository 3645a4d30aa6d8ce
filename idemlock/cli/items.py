"""The table's items as the command sees them: idemlock's records, and foreign items.

A lock table can hold items idemlock did not write: Powertools' (status ``INPROGRESS``, other
attribute names), a hand-made test item, another tool's. They must not stop ``ls``, ``stats``,
``purge`` or ``release``: each is read as a :class:`Foreign` with its key and raw status, listed
as such, counted apart, never purged, and deleted only by ``release KEY --force``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from idemlock.cli.common import Refused, with_progress
from idemlock.dynamodb import DynamoDBStore
from idemlock.errors import AccessDeniedError, StoreError, TableMismatchError
from idemlock.item import LockItem


class Foreign(NamedTuple):
    """An item idemlock did not write (or cannot read with the attribute names given)."""

    key: str
    status: str | None
    """The raw value of the status attribute, when it has one."""
    problem: str
    """Why it is not an idemlock record, as the store says it."""
    item: Mapping[str, Any]
    """The item as DynamoDB returned it."""


Item = LockItem | Foreign


def read(store: DynamoDBStore, item: Mapping[str, Any]) -> Item:
    """The item as a record, or as a foreign item saying why it is not one."""
    try:
        return store.parse_item(item)
    except StoreError as exc:
        names = store.attributes
        return Foreign(
            _text(item.get(names.key)) or "",
            _text(item.get(names.status)),
            str(exc),
            item,
        )


def scan(
    store: DynamoDBStore, *, prefix: str | None, page_size: int | None, progress: bool | None
) -> Iterator[Item]:
    """Every item of the table (``prefix``: keys starting with it), progress on stderr."""
    raw = store.scan_items(prefix=prefix, page_size=page_size)
    for item in with_progress(raw, enabled=progress):
        yield read(store, item)


def get(store: DynamoDBStore, key: str) -> Item | None:
    """The key's item, or ``None``."""
    item = store.get_item(key)
    return None if item is None else read(store, item)


def check_table(store: DynamoDBStore) -> None:
    """Refuse a table whose key schema is not the store's, before reading it.

    Without this, ``ls`` on such a table printed nothing and exited 0, and ``show`` a raw
    ValidationException. A caller without ``dynamodb:DescribeTable`` skips the check: the read
    itself then says what is wrong.
    """
    try:
        store.check_table()
    except AccessDeniedError:
        return
    except TableMismatchError as exc:
        raise Refused(
            f"{exc}; check --table, or if its store was given other attribute names, pass them "
            "as --attribute key=NAME (and the others)"
        ) from exc


def foreign_json(item: Foreign) -> dict[str, Any]:
    """A foreign item as JSON: what ``ls`` and ``show`` print for scripts."""
    return {
        "key": item.key,
        "status": item.status,
        "foreign": True,
        "problem": item.problem,
        "attributes": plain(item.item),
    }


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed attribute values as plain JSON values (sets as sorted lists)."""
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415  (only for foreign items)

    deserializer = TypeDeserializer()
    decoded = {name: deserializer.deserialize(value) for name, value in item.items()}
    return dict(json.loads(json.dumps(decoded, default=_json_default, sort_keys=True)))


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3's Binary
        return base64.b64encode(value.value).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _text(value: object) -> str | None:
    """A typed attribute value as text: a string's own value, anything else as JSON."""
    if value is None:
        return None
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    return json.dumps(value, default=str, sort_keys=True)
