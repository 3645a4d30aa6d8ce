"""The options of ``@idempotent``, ``@idempotent_records`` and the stream dispatcher.

Each option is documented once, on :func:`idemlock.idempotent` (``concurrency`` on
:func:`idemlock.idempotent_records`), typed once in :class:`RecordsOptions` for the batch entry
points, and checked once, at decoration time, by :func:`validate`, into :class:`Options`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from idemlock._policy import Policy
from idemlock.dynamodb import TABLE_ENV, DynamoDBStore
from idemlock.errors import ConfigurationError
from idemlock.lock import Lock

if TYPE_CHECKING:
    from typing import TypedDict

    from idemlock._cache import CompletedCache
    from idemlock.events import EventSink
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

DISABLED_ENV: Final = "IDEMLOCK_DISABLED"
"""The environment variable that switches idempotency off (``1``/``true``) by default."""

_TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})


# For type checkers only: nothing reads it at run time, where making it would cost a cold start
# about 0.4 ms (typing compiles each of its string annotations).
if TYPE_CHECKING:

    class RecordsOptions(TypedDict, total=False):
        """The keyword options of ``@idempotent_records`` and ``StreamDispatcher``.

        Each means what it means on :func:`idemlock.idempotent`; ``concurrency`` is the number of
        store calls of one batch in flight at once.
        """

        store: LockStore | None
        lease: Duration | None
        retention: Duration | None
        clock: Callable[[], float]
        local_cache: int
        local_cache_ttl: Duration
        store_result: bool
        on_unstorable_result: Literal["raise", "omit"]
        concurrency: int
        disabled: bool | None
        on_event: EventSink | None
        on_lock_lost: Callable[[Lock], object] | None
        heartbeat: bool | Duration


class Options(NamedTuple):
    """Every option of one decorated function, checked (read-only)."""

    store: LockStore | None
    namespace: str | None
    policy: Policy
    disabled: bool | None
    fingerprint: Callable[..., object] | None
    on_missing_key: Literal["raise", "run"]
    concurrency: int


def validate(
    *,
    key_fn: Callable[..., object] | None,
    store: LockStore | None = None,
    namespace: str | None = None,
    lease: Duration | None = None,
    retention: Duration | None = DEFAULT_RETENTION,
    fingerprint: Callable[..., object] | None = None,
    clock: Callable[[], float] = time.time,
    local_cache: int = 0,
    local_cache_ttl: Duration = DEFAULT_LOCAL_CACHE_TTL,
    store_result: bool = True,
    on_unstorable_result: Literal["raise", "omit"] = "raise",
    on_missing_key: Literal["raise", "run"] = "raise",
    concurrency: int = DEFAULT_CONCURRENCY,
    disabled: bool | None = None,
    on_event: EventSink | None = None,
    on_lock_lost: Callable[[Lock], object] | None = None,
    heartbeat: bool | Duration = False,
    require_key_fn: bool = False,
) -> Options:
    """Check the options of any entry point (defaults here); ConfigurationError if wrong."""
    callables = (
        ("key_fn", key_fn),
        ("fingerprint", fingerprint),
        ("clock", clock),
        ("on_event", on_event),
        ("on_lock_lost", on_lock_lost),
    )
    for name, value in callables:
        if (value is not None or (name == "key_fn" and require_key_fn)) and not callable(value):
            raise ConfigurationError(f"{name} must be callable, got {type(value).__name__}")
    if namespace is not None and (not isinstance(namespace, str) or not namespace):
        raise ConfigurationError("namespace must be a non-empty string")
    if on_missing_key not in ("raise", "run"):
        raise ConfigurationError(f'on_missing_key must be "raise" or "run", got {on_missing_key!r}')
    _check_count("concurrency", concurrency, least=1)
    _check_count("local_cache", local_cache, least=0)
    if on_unstorable_result not in ("raise", "omit"):
        raise ConfigurationError(
            f'on_unstorable_result must be "raise" or "omit", got {on_unstorable_result!r}'
        )
    cache_ttl_ms = milliseconds("local_cache_ttl", local_cache_ttl)
    policy = Policy(
        clock_us=lambda: int(clock() * 1_000_000),
        lease_ms=None if lease is None else milliseconds("lease", lease),
        default_lease_ms=milliseconds("lease", DEFAULT_LEASE),
        retention_ms=None if retention is None else milliseconds("retention", retention),
        store_result=store_result,
        omit_unstorable=on_unstorable_result == "omit",
        cache=_cache(local_cache, cache_ttl_ms),
        on_event=on_event,
        on_lock_lost=on_lock_lost,
        heartbeat_ms=_heartbeat_ms(heartbeat),
    )
    return Options(
        store=store,
        namespace=namespace,
        policy=policy,
        disabled=disabled,
        fingerprint=fingerprint,
        on_missing_key=on_missing_key,
        concurrency=concurrency,
    )


def _cache(size: int, ttl_ms: int) -> CompletedCache | None:
    """The local cache of completed keys (``local_cache=``), else ``None``."""
    if not size:
        return None
    # Deferred: only local_cache= loads it, which keeps the cold start short.
    from idemlock._cache import CompletedCache  # noqa: PLC0415

    return CompletedCache(size, ttl_ms)


def _heartbeat_ms(heartbeat: bool | Duration) -> int | None:
    """``False``: none; ``True``: every third of the lease (0); a duration: that period."""
    if heartbeat is False:
        return None
    if heartbeat is True:
        return 0
    return milliseconds("heartbeat", heartbeat)


def _check_count(option: str, value: Any, *, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigurationError(f"{option} must be a count >= {least}, got {value!r}")


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
    store = _default_stores.get(table)  # every call after the first: no lock to take
    if store is None:
        with _default_stores_lock:
            store = _default_stores.get(table)
            if store is None:
                store = _default_stores[table] = DynamoDBStore(table)
    return store
