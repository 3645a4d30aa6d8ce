"""Unit tests for :mod:`idemlock._cache`: the in-process cache of completed keys."""

from __future__ import annotations

import threading

from idemlock._cache import CompletedCache
from idemlock.item import LockItem, LockStatus

NOW_MS = 1_800_000_000_000
DAY_MS = 86_400_000

_MISS = "(a miss)"


def _item(result: str | None, expires_at_s: int | None = None) -> LockItem:
    """A completed item with this stored result and retention."""
    return LockItem(
        "orders#1",
        LockStatus.COMPLETED,
        "owner",
        7,
        NOW_MS - 2000,
        expires_at_s=expires_at_s,
        completed_at_ms=NOW_MS - 1000,
        result=result,
    )


def _result(item: LockItem | None) -> str | None:
    """The cached item's stored result; ``_MISS`` for no item."""
    return _MISS if item is None else item.result


def test_hit_returns_the_item_remembered() -> None:
    """A remembered key is a hit carrying the completed item, its stored result JSON in it."""
    cache = CompletedCache(maxsize=8, ttl_ms=DAY_MS)
    item = _item('{"total": 10}')
    cache.remember("orders#1", item, NOW_MS - 1000)
    assert cache.lookup("orders#1", NOW_MS) == item


def test_miss_returns_none() -> None:
    """A key never remembered is a miss."""
    cache = CompletedCache(maxsize=8, ttl_ms=DAY_MS)
    cache.remember("orders#1", _item('"x"'), NOW_MS - 1000)
    assert cache.lookup("orders#2", NOW_MS) is None


def test_stored_none_result_is_a_hit_distinct_from_a_miss() -> None:
    """A key completed without a stored result is a hit (an item whose result is None)."""
    cache = CompletedCache(maxsize=8, ttl_ms=DAY_MS)
    cache.remember("orders#1", _item(None), NOW_MS - 1000)
    assert _result(cache.lookup("orders#1", NOW_MS)) is None
    assert cache.lookup("orders#2", NOW_MS) is None


def test_remembering_a_key_again_replaces_its_result() -> None:
    """Remembering a cached key again replaces its entry rather than adding one."""
    cache = CompletedCache(maxsize=8, ttl_ms=DAY_MS)
    cache.remember("orders#1", _item('"old"'), NOW_MS - 1000)
    cache.remember("orders#1", _item('"new"'), NOW_MS - 1000)
    assert _result(cache.lookup("orders#1", NOW_MS)) == '"new"'
    assert len(cache) == 1


def test_entry_is_live_until_its_expiry() -> None:
    """An entry is a hit while ``expires_at_s * 1000 > now_ms``."""
    cache = CompletedCache(maxsize=8, ttl_ms=DAY_MS)
    cache.remember("orders#1", _item('"r"', 1_800_000_000), NOW_MS - 1000)
    assert _result(cache.lookup("orders#1", 1_800_000_000_000 - 1)) == '"r"'


def test_entry_at_its_expiry_is_a_miss_and_dropped() -> None:
    """An entry is a miss once ``expires_at_s * 1000 <= now_ms``, and is removed."""
    cache = CompletedCache(maxsize=8, ttl_ms=DAY_MS)
    cache.remember("orders#1", _item('"r"', 1_800_000_000), NOW_MS - 1000)
    assert cache.lookup("orders#1", 1_800_000_000_000) is None
    assert len(cache) == 0
    # Dropped, not merely hidden: an earlier clock does not bring it back.
    assert cache.lookup("orders#1", 1_700_000_000_000) is None


def test_entry_past_its_expiry_is_a_miss() -> None:
    """An entry is a miss well after its expiry."""
    cache = CompletedCache(maxsize=8, ttl_ms=DAY_MS)
    cache.remember("orders#1", _item('"r"', 1_800_000_000), NOW_MS - 1000)
    assert cache.lookup("orders#1", 1_800_000_000_000 + 60_000) is None


def test_entry_without_expiry_lives_its_ttl() -> None:
    """An entry with ``expires_at_s=None`` (retention None) is a hit for its ttl, then a miss.

    An operator's release cannot reach a warm container: the ttl bounds how long it is missed.
    """
    cache = CompletedCache(maxsize=8, ttl_ms=60_000)
    cache.remember("orders#1", _item('"r"'), NOW_MS)
    assert _result(cache.lookup("orders#1", NOW_MS + 59_999)) == '"r"'
    assert cache.lookup("orders#1", NOW_MS + 60_000) is None


def test_the_ttl_bounds_an_entry_before_its_retention_ends() -> None:
    """The entry ends at the earlier of now + ttl and the key's retention."""
    cache = CompletedCache(maxsize=8, ttl_ms=60_000)
    cache.remember("late", _item('"r"', (NOW_MS + DAY_MS) // 1000), NOW_MS)
    cache.remember("soon", _item('"r"', (NOW_MS + 10_000) // 1000), NOW_MS)
    assert cache.lookup("late", NOW_MS + 60_000) is None
    assert cache.lookup("soon", NOW_MS + 10_000) is None


def test_full_cache_evicts_least_recently_added_when_unused() -> None:
    """With no lookups, adding past maxsize evicts the oldest entry."""
    cache = CompletedCache(maxsize=2, ttl_ms=DAY_MS)
    cache.remember("a", _item('"A"'), NOW_MS - 1000)
    cache.remember("b", _item('"B"'), NOW_MS - 1000)
    cache.remember("c", _item('"C"'), NOW_MS - 1000)
    assert len(cache) == 2
    assert cache.lookup("a", NOW_MS) is None
    assert _result(cache.lookup("b", NOW_MS)) == '"B"'
    assert _result(cache.lookup("c", NOW_MS)) == '"C"'


def test_lookup_refreshes_recency_so_least_recently_used_is_evicted() -> None:
    """A lookup marks an entry as used: the least recently *used* one is evicted."""
    cache = CompletedCache(maxsize=2, ttl_ms=DAY_MS)
    cache.remember("a", _item('"A"'), NOW_MS - 1000)
    cache.remember("b", _item('"B"'), NOW_MS - 1000)
    assert _result(cache.lookup("a", NOW_MS)) == '"A"'
    cache.remember("c", _item('"C"'), NOW_MS - 1000)
    assert len(cache) == 2
    assert cache.lookup("b", NOW_MS) is None
    assert _result(cache.lookup("a", NOW_MS)) == '"A"'
    assert _result(cache.lookup("c", NOW_MS)) == '"C"'


def test_concurrent_remember_and_lookup_stay_within_maxsize() -> None:
    """Eight threads remembering and looking up never push the cache past maxsize."""
    maxsize = 16
    cache = CompletedCache(maxsize=maxsize, ttl_ms=DAY_MS)
    start = threading.Barrier(8)
    errors: list[str] = []

    def hammer(thread: int) -> None:
        start.wait()
        for i in range(2_000):
            key = f"k{(i * 7 + thread) % 64}"
            cache.remember(key, _item(f'"{key}"'), NOW_MS - 1000)
            result = _result(cache.lookup(key, NOW_MS))
            if result not in (_MISS, f'"{key}"'):
                errors.append(f"{key} returned {result}")
            if len(cache) > maxsize:
                errors.append(f"cache grew to {len(cache)}")

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(cache) == maxsize
