"""The table's items as the command sees them: idemlock's items, and foreign items.

A lock table can hold items idemlock did not write: Powertools' (status ``INPROGRESS``, other
attribute names), a hand-made test item, another tool's. They must not stop ``ls``, ``stats``,
``purge`` or ``release``: each is read as a :class:`Foreign` with its key and raw status, listed
as such, counted apart, never purged, and deleted only by ``release KEY --force``. An item whose
stored result cannot be read back (corrupted, or written by another tool) is read the same way,
marked ``unreadable``: a duplicate of its key gets ``UnreadableResultError``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from idemlock._results import unreadable, unstored_reason
from idemlock.cli.common import Refused
from idemlock.cli.output import Progress, human_duration, iso
from idemlock.dynamodb import DynamoDBStore
from idemlock.errors import (
    AccessDeniedError,
    StoreError,
    TableMismatchError,
    UnreadableResultError,
)
from idemlock.item import LockItem, LockStatus
from idemlock.keys import storage_key


class Foreign(NamedTuple):
    """An item idemlock did not write (or cannot read with these attribute names), or can't use.

    ``unreadable``: an idemlock record whose stored result cannot be read back.
    """

    key: str
    status: str | None
    """The raw value of the status attribute, when it has one."""
    problem: str
    """Why it is not an idemlock record, or why its result cannot be read."""
    item: Mapping[str, Any]
    """The item as DynamoDB returned it."""
    unreadable: bool = False
    """An idemlock record whose result cannot be read back."""

    @property
    def label(self) -> str:
        """What it is, as a status column says it."""
        return "unreadable result" if self.unreadable else "foreign"


Item = LockItem | Foreign


def read(store: DynamoDBStore, item: Mapping[str, Any]) -> Item:
    """The item as a record, or as a foreign item saying why it is not one (or is unreadable)."""
    names = store.attributes
    try:
        record = store.parse_item(item)
    except UnreadableResultError as exc:  # a result attribute that is not one (zlib, type)
        return Foreign(exc.key, _text(item.get(names.status)), str(exc), item, unreadable=True)
    except StoreError as exc:
        return Foreign(
            _text(item.get(names.key)) or "", _text(item.get(names.status)), str(exc), item
        )
    problem = unreadable(record.result, record.key)  # text that is not JSON, an unknown tag
    if problem is not None:
        return Foreign(record.key, record.status.value, str(problem), item, unreadable=True)
    return record


def scan(
    store: DynamoDBStore, *, prefix: str | None, page_size: int | None, progress: bool | None
) -> Iterator[Item]:
    """Every item of the table (``prefix``: keys starting with it), progress on stderr."""
    tally = _ScanTally(Progress(progress), prefix)
    on_page = tally.page if tally.progress.enabled else None
    for item in store.scan_items(prefix=prefix, page_size=page_size, on_page=on_page):
        tally.matched += 1
        yield read(store, item)
    tally.progress.end(tally.text())


class _ScanTally:
    """What a scan read so far: every item read is billed, matching the prefix or not."""

    def __init__(self, progress: Progress, prefix: str | None) -> None:
        self.progress = progress
        self.prefix = prefix
        self.scanned = self.matched = 0
        self.capacity: float | None = None

    def page(self, scanned: int, capacity: float | None) -> None:
        self.scanned += scanned
        if capacity is not None:
            self.capacity = (self.capacity or 0.0) + capacity
        self.progress.show(self.text())

    def text(self) -> str:
        parts = [f"scanned {self.scanned} items"]
        if self.prefix:
            parts.append(f"{self.matched} matching {self.prefix!r}")
        if self.capacity is not None:
            parts.append(f"{self.capacity:g} read capacity units")
        return ", ".join(parts)


def get(store: DynamoDBStore, key: str) -> Item | None:
    """The key's item, or ``None``."""
    item = store.get_item(key)
    return None if item is None else read(store, item)


def lookup(store: DynamoDBStore, key: str, namespace: str | None, *, absent: str) -> Item:
    """The item of KEY (of ``namespace`` if given); refused, ending with ``absent``, if none."""
    stored = storage_key(namespace, key) if namespace else key
    item = get(store, stored)
    if item is None:
        raise Refused(f"no item with key {stored!r} in table {store.table_name!r}{absent}")
    return item


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


def item_json(item: Item, at_ms: int) -> dict[str, Any]:
    """An item as stable JSON fields for scripts (``ls`` and ``show``).

    Times in epoch units and ISO 8601; a foreign item has its key, raw status, why it is
    foreign and its attributes.
    """
    if isinstance(item, Foreign):
        return {
            "key": item.key,
            "status": item.status,
            "foreign": not item.unreadable,
            "unreadable": item.unreadable,
            "problem": item.problem,
            "attributes": plain(item.item),
        }
    expires_ms = None if item.expires_at_s is None else item.expires_at_s * 1000
    not_stored = unstored_reason(item.result)
    return {
        "key": item.key,
        "status": item.status.value,
        "owner": item.owner,
        "fence": item.fence,
        "attempts": item.attempts,
        "claimed_at": iso(item.claimed_at_ms),
        "claimed_at_ms": item.claimed_at_ms,
        "age_s": round((at_ms - item.claimed_at_ms) / 1000, 3),
        "lease_expires_at": iso(item.lease_expires_at_ms),
        "lease_expires_at_ms": item.lease_expires_at_ms,
        "lease_left_s": _seconds(lease_left_ms(item, at_ms)),
        "stale": is_stale(item, at_ms),
        "completed_at": iso(item.completed_at_ms),
        "completed_at_ms": item.completed_at_ms,
        "expires_at": iso(expires_ms),
        "expires_at_s": item.expires_at_s,
        "result": None if item.result is None else json.loads(item.result),
        "result_stored": item.result is not None and not_stored is None,
        "result_not_stored": not_stored,
        "fingerprint": item.fingerprint,
        "foreign": False,
        "unreadable": False,
        "outcome_unknown": item.outcome_unknown_at_ms is not None,
        "outcome_unknown_at": iso(item.outcome_unknown_at_ms),
        "outcome_unknown_at_ms": item.outcome_unknown_at_ms,
        "steps": {name: json.loads(text) for name, text in item.steps},
        "released_at_ms": item.released_at_ms,
    }


def _seconds(milliseconds: int | None) -> float | None:
    return None if milliseconds is None else round(milliseconds / 1000, 3)


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


def is_stale(record: LockItem, at_ms: int) -> bool:
    """IN_PROGRESS past its lease: the invocation crashed or timed out.

    Not an item whose body failed with steps recorded: that one freed its key itself.
    """
    return (
        record.status is LockStatus.IN_PROGRESS
        and record.released_at_ms is None
        and record.is_free_at(at_ms)
    )


def lease_left_ms(record: LockItem, at_ms: int) -> int | None:
    """Milliseconds until the lease ends (negative once over); ``None`` when there is none.

    A completed item has none, nor has a run that failed with steps kept: it freed its key (its
    stored lease is 0).
    """
    if (
        record.status is not LockStatus.IN_PROGRESS
        or record.lease_expires_at_ms is None
        or record.released_at_ms is not None
    ):
        return None
    return record.lease_expires_at_ms - at_ms


def lease_left_text(item: LockItem, at_ms: int) -> str:
    """The lease left, for people: ``42s``, ``over 3m ago``, or ``-`` once completed."""
    left = lease_left_ms(item, at_ms)
    if left is None:
        return "-"
    return human_duration(left) if left > 0 else f"over {human_duration(left)} ago"
