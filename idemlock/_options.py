"""Options shared by ``@idempotent``, ``@idempotent_records`` and the stream dispatcher.

They are validated once, at decoration time, into a :class:`~idemlock._lock.Policy`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Final, Literal

from idemlock._cache import CompletedCache
from idemlock._lock import Policy
from idemlock.errors import ConfigurationError
from idemlock.store import LockStore

Duration = float | timedelta
"""Seconds, or a :class:`~datetime.timedelta`."""

DEFAULT_LEASE: Final = timedelta(minutes=5)
"""The lease outside Lambda when ``lease=`` is not given."""

DEFAULT_RETENTION: Final = timedelta(hours=24)
"""How long a completed key suppresses duplicates when ``retention=`` is not given."""

DEFAULT_LOCAL_CACHE_TTL: Final = timedelta(minutes=5)
"""How long a warm container trusts a cached completed key: an operator's release of the key
reaches it within this time."""

DEFAULT_CONCURRENCY: Final = 32
"""Store calls of one batch in flight at once (botocore's default pool holds 10 connections;
idemlock's own clients hold 32)."""

TABLE_ENV: Final = "IDEMLOCK_TABLE"
DISABLED_ENV: Final = "IDEMLOCK_DISABLED"

_TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})


def build_policy(
    *,
    lease: Duration | None,
    retention: Duration | None,
    clock: Callable[[], float],
    local_cache: int,
    local_cache_ttl: Duration,
    store_result: bool,
    on_unstorable_result: Literal["raise", "omit"],
) -> Policy:
    """Validate the options every idempotent entry point shares; ConfigurationError if wrong."""
    if not callable(clock):
        raise ConfigurationError(f"clock must be callable, got {type(clock).__name__}")
    if isinstance(local_cache, bool) or not isinstance(local_cache, int) or local_cache < 0:
        raise ConfigurationError(f"local_cache must be a count >= 0, got {local_cache!r}")
    if on_unstorable_result not in ("raise", "omit"):
        raise ConfigurationError(
            f'on_unstorable_result must be "raise" or "omit", got {on_unstorable_result!r}'
        )
    cache_ttl_ms = milliseconds("local_cache_ttl", local_cache_ttl)
    return Policy(
        clock_us=lambda: int(clock() * 1_000_000),
        lease_ms=None if lease is None else milliseconds("lease", lease),
        default_lease_ms=milliseconds("lease", DEFAULT_LEASE),
        retention_ms=None if retention is None else milliseconds("retention", retention),
        store_result=store_result,
        omit_unstorable=on_unstorable_result == "omit",
        cache=CompletedCache(local_cache, cache_ttl_ms) if local_cache else None,
    )


def check_namespace(namespace: str | None) -> None:
    """A namespace, when given, is a non-empty string."""
    if namespace is not None and (not isinstance(namespace, str) or not namespace):
        raise ConfigurationError("namespace must be a non-empty string")


def milliseconds(option: str, value: Duration) -> int:
    """A positive, finite duration in whole milliseconds (at least 1)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigurationError(
            f"{option} must be seconds (a number) or a timedelta, got {type(value).__name__}"
        )
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigurationError(f"{option} must be a positive, finite duration, got {value!r}")
    return max(1, round(seconds * 1000))


def is_disabled(disabled: bool | None) -> bool:
    """The explicit switch, or else ``IDEMLOCK_DISABLED`` read now (so tests may set it late)."""
    if disabled is not None:
        return disabled
    value = os.environ.get(DISABLED_ENV)
    return value is not None and value.strip().lower() in _TRUE_WORDS


_default_stores: dict[str, LockStore] = {}
_default_stores_lock = threading.Lock()


def default_store() -> LockStore:
    """The store used when none is passed: one ``DynamoDBStore`` per ``IDEMLOCK_TABLE`` value."""
    table = os.environ.get(TABLE_ENV, "").strip()
    if not table:
        raise ConfigurationError(
            f"no lock store: pass store= or set {TABLE_ENV} to the lock table's name"
        )
    with _default_stores_lock:
        store = _default_stores.get(table)
        if store is None:
            from idemlock.dynamodb import DynamoDBStore  # noqa: PLC0415  (only when needed)

            store = _default_stores[table] = DynamoDBStore(table)
        return store
