"""The lock item as idemlock sees it, independent of any store.

Times carry their unit in their name: leases are epoch milliseconds (``*_ms``); the expiry that
DynamoDB's TTL reads is epoch seconds (``expires_at_s``), as TTL requires.
"""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation into a ForwardRef as the class is made; evaluated ones make the named tuples below
# about half as costly to a cold start.

import enum
from datetime import datetime, timezone
from typing import NamedTuple


class LockStatus(str, enum.Enum):
    """The state of a key. An absent item means the key is free."""

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


class LockItem(NamedTuple):
    """One lock item.

    ``result`` is the JSON text of the body's return value (typed values tagged), or ``None``
    when no result was stored (still running, or completed with ``store_result=False``). A
    result that could not be stored leaves a marker naming why in its place
    (``{"__idemlock__": "unstorable", "v": ...}``).

    ``outcome_unknown_at_ms``, on an ``IN_PROGRESS`` item, is when a claim under
    ``on_lease_expired="refuse"`` found its lease over and refused to run the body again: the
    first invocation's outcome is unknown, and the key stays blocked (for every claim) until an
    operator settles it (``idemlock release`` or ``idemlock resolve``) or its owner, still
    alive, completes or releases it.

    ``steps`` are the recovery points its body recorded (``idemlock.step``): each name with its
    result's JSON text, in name order; they survive a failure and a takeover, and a complete
    clears them. ``released_at_ms``, on an ``IN_PROGRESS`` item, is when its body failed with
    steps recorded: the key is free (for any claim), its steps kept for the retry.

    Immutable: ``item._replace(status=...)`` makes a changed copy.
    """

    key: str
    status: LockStatus
    owner: str
    fence: int
    claimed_at_ms: int
    lease_expires_at_ms: int | None = None
    expires_at_s: int | None = None
    completed_at_ms: int | None = None
    attempts: int = 1
    result: str | None = None
    fingerprint: str | None = None
    outcome_unknown_at_ms: int | None = None
    steps: tuple[tuple[str, str], ...] = ()
    released_at_ms: int | None = None

    def is_free_at(self, now_ms: int) -> bool:
        """Whether a new claim may take this key at ``now_ms``.

        The single definition of "free" for an existing item; ``DynamoDBStore`` states the same
        rule as its condition expression. An absent item is free too (no item at all).
        """
        if self.status is LockStatus.IN_PROGRESS:
            if self.released_at_ms is not None:
                return True
            return (
                self.outcome_unknown_at_ms is None
                and self.lease_expires_at_ms is not None
                and self.lease_expires_at_ms < now_ms
            )
        return self.expires_at_s is not None and self.expires_at_s * 1000 <= now_ms

    @property
    def lease_expires_at(self) -> datetime | None:
        """The lease end as an aware UTC datetime (``None`` once completed)."""
        return _utc(self.lease_expires_at_ms)

    @property
    def claimed_at(self) -> datetime:
        """When the current owner claimed the key, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.claimed_at_ms / 1000, tz=timezone.utc)


def utc_text(epoch_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds: ``2026-11-23T17:03:39.540Z``.

    Every time idemlock prints, in errors and in the ``idemlock`` command alike, is written this
    one way.
    """
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utc(epoch_ms: int | None) -> datetime | None:
    return None if epoch_ms is None else datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
