"""A bounded in-process cache of completed keys, so a warm container answers duplicates locally.

Only ``COMPLETED`` keys are cached (an in-progress key can change at any moment), each as its
item was last known here: read by a claim that found the key completed, or as this container's
own complete wrote it. A completed key leaves that state when its retention passes or when an
operator releases it; the store cannot tell a warm container of the second, so an entry lives at
most ``ttl_ms`` (``local_cache_ttl``, minutes by default), and never past the key's retention: a
release reaches every warm container within that time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idemlock.item import LockItem


class CompletedCache:
    """Least-recently-used map of stored key → (completed item, entry expiry in epoch ms)."""

    def __init__(self, maxsize: int, ttl_ms: int) -> None:
        self._maxsize = maxsize
        self._ttl_ms = ttl_ms
        self._entries: OrderedDict[str, tuple[LockItem, int]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, key: str, now_ms: int) -> LockItem | None:
        """The completed item of a live entry, ``None`` on a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            item, expires_at_ms = entry
            if expires_at_ms <= now_ms:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return item

    def remember(self, key: str, item: LockItem, now_ms: int) -> None:
        """Cache ``item``, completed as of ``now_ms``, evicting the least recently used when full.

        The entry lives ``ttl_ms``, and never past the item's retention (``expires_at_s``).
        """
        expires_at_ms = now_ms + self._ttl_ms
        if item.expires_at_s is not None:
            expires_at_ms = min(expires_at_ms, item.expires_at_s * 1000)
        with self._lock:
            self._entries[key] = (item, expires_at_ms)
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:  # never between remember()'s insert and its eviction
            return len(self._entries)
