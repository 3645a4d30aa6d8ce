"""Deprecated: the lock item moved to :mod:`idemlock.item` (``LockItem``, ``LockStatus``).

``Record`` and ``Status`` are found here for one release (0.1.x), with a warning: "record" now
means only an event record (``idempotent_records``, ``RecordStatus``).
"""

from __future__ import annotations

import warnings

from idemlock import item

_MOVED = {"Record": "LockItem", "Status": "LockStatus", "utc_text": "utc_text"}


def __getattr__(name: str) -> object:
    new_name = _MOVED.get(name)
    if new_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"idemlock.record.{name} is deprecated: use idemlock.item.{new_name}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(item, new_name)
