"""A bounded in-process cache of completed keys, so a warm container answers duplicates locally.

Only ``COMPLETED`` keys are cached (an in-progress key can change at any moment), each until its
retention ends. A cached key cannot become stale in a way that matters: a completed key only
leaves that state when its retention passes or an operator releases it, and in the second case a
warm container replays the old result until it is recycled or the entry is evicted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class CompletedCache:
    """Least-recently-used map of stored key → (result JSON, expiry in epoch seconds)."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[str, tuple[str | None, int | None]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, key: str, now_ms: int) -> tuple[bool, str | None]:
        """``(True, result_json)`` for a live entry, ``(False, None)`` on a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            result, expires_at_s = entry
            if expires_at_s is not None and expires_at_s * 1000 <= now_ms:
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, result

    def remember(self, key: str, result: str | None, expires_at_s: int | None) -> None:
        """Cache a completed key, evicting the least recently used entry when full."""
        with self._lock:
            self._entries[key] = (result, expires_at_s)
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
