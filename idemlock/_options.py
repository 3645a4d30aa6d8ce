"""The keyword options of ``@idempotent``, ``@idempotent_records`` and the stream dispatcher.

Each option is typed and documented once, in :class:`Options` (``fingerprint`` and
``on_missing_key`` in :class:`IdempotentOptions`, ``concurrency`` in :class:`RecordsOptions`),
which the entry points take with ``Unpack``; and checked once, at decoration time, by
:func:`validate`, into the one runtime object, :class:`~idemlock._policy.Policy`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict

from idemlock._codec import is_typing_form
from idemlock._policy import Policy
from idemlock.dynamodb import TABLE_ENV, DynamoDBStore
from idemlock.errors import ConfigurationError
from idemlock.lock import Lock

if TYPE_CHECKING:
    from idemlock._cache import CompletedCache
    from idemlock.events import EventSink
    from idemlock.item import LockItem
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

LAMBDA_ENV: Final = "AWS_LAMBDA_FUNCTION_NAME"
"""Set by Lambda in every function's environment: the code runs inside Lambda."""

logger = logging.getLogger("idemlock")


class Options(TypedDict, total=False):
    """The keyword options of every entry point, each optional.

    ``@idempotent`` also takes :class:`IdempotentOptions`; ``@idempotent_records`` and
    ``StreamDispatcher`` take :class:`RecordsOptions` (there ``lease`` is one lease for every
    record of the invocation).
    """

    store: LockStore | None
    """Where locks live; default ``DynamoDBStore(os.environ["IDEMLOCK_TABLE"])``, made on first
    call."""
    namespace: str | None
    """Prefix of every stored key (``namespace#key``); default: the function's module and
    qualified name. Set it in production, so a refactoring keeps the keys."""
    lease: Duration | None
    """How long a claim blocks others before it may be taken over; default: a Lambda context's
    remaining time plus 2 s when one is passed, else 5 minutes."""
    retention: Duration | None
    """How long a completed key returns its stored result instead of running (``None``:
    forever); default 24 hours."""
    clock: Callable[[], float]
    """Returns the time in epoch seconds (``time.time``); inject one in tests."""
    local_cache: int
    """Keep up to this many completed keys in memory, answering duplicates in a warm container
    without a call; 0 (the default) disables it."""
    local_cache_ttl: Duration
    """How long a cached key is trusted (default 5 minutes, never past its retention): an
    operator's ``idemlock release`` reaches warm containers within it."""
    store_result: bool
    """Store the return value for duplicates (``False``: they return ``None``)."""
    on_unstorable_result: Literal["raise", "omit"]
    """A result without a stored form or too large completes the key without it (its body
    never runs twice) and either raises ``UnstorableResultError`` ("raise", the default; a
    duplicate gets ``ResultNotStoredError``), or returns it (a duplicate gets ``None``)
    ("omit")."""
    result_type: Any
    """What a duplicate's stored result is rebuilt as (a dataclass, NamedTuple, pydantic model,
    ``list[Order]``...); default: the function's return annotation."""
    disabled: bool | None
    """``True`` runs the function directly; ``None`` (default) reads ``IDEMLOCK_DISABLED``
    (``1``/``true``) at each call."""
    on_event: EventSink | None
    """Called with a :class:`~idemlock.events.LockEvent` at every transition (claimed,
    duplicate, completed, released, taken_over, lock_lost, store_error, ...); e.g.
    :class:`idemlock.metrics.CloudWatchMetrics`. The same transitions are logged on the
    ``idemlock`` logger either way."""
    heartbeat: bool | Duration
    """``True`` extends the lease every third of it while the body runs (a daemon thread beside
    a sync body, a task beside an async one), a duration sets the period; so a short ``lease=``
    bounds crash recovery without bounding the body. Inside Lambda it never extends past the
    invocation's deadline."""
    on_lock_lost: Callable[[Lock], object] | None
    """Called with the :class:`~idemlock.Lock` when an extension or the complete finds another
    invocation holding the key (``current_lock().lost`` turns true too)."""
    on_replay: Callable[[Any, LockItem], object] | None
    """Called as ``on_replay(value, item)`` instead of returning a duplicate's stored ``value``:
    what it returns is what the duplicate returns (Powertools' ``response_hook``). ``item`` is
    the completed :class:`~idemlock.LockItem`: as the store returned it, or, for a duplicate
    answered from the local cache, as this container last knew it (its claim's read, or its own
    complete). Not called when the body runs. An exception from it propagates unchanged (the key
    stays completed; a batch reports that record as failed)."""
    on_lease_expired: Literal["take_over", "refuse"]
    """What a call does when the key's holder ran out of lease before completing: "take_over"
    (the default) claims the key and runs the body again; "refuse" does not run it: it raises
    ``OutcomeUnknownError`` and marks the item (``outcome_unknown_at_ms``) so that no call runs
    it until an operator decides (``idemlock release`` or ``idemlock resolve``)."""
    wait: Duration | None
    """A call that finds its key in progress waits up to this long for the first call's
    result (reading the item with a jittered exponential backoff, never claiming it while the
    lease is live), returns it when the first completes, claims the key and runs the body if it
    was freed, else raises ``InProgressError``; inside Lambda, never past the deadline.
    Default ``None``: ``InProgressError`` at once."""


class IdempotentOptions(Options, total=False):
    """The keyword options of ``@idempotent``: :class:`Options`, and these two."""

    fingerprint: Callable[..., object] | None
    """Called with the function's arguments, returns a JSON value whose hash is stored; the
    same key with a different fingerprint raises ``PayloadMismatchError``."""
    on_missing_key: Literal["raise", "run"]
    """"raise" ``MissingKeyError`` when ``key_fn`` finds no key (the default), or "run" the
    body unprotected."""


class RecordsOptions(Options, total=False):
    """The keyword options of ``@idempotent_records`` and ``StreamDispatcher``."""

    concurrency: int
    """Store calls of one batch in flight at once (default 32)."""


class _AllOptions(IdempotentOptions, RecordsOptions, total=False):
    """Every option, as :func:`validate` reads them."""


_NAMES: Final = {
    "@idempotent": frozenset(IdempotentOptions.__annotations__)
    | frozenset(Options.__annotations__),
    "@idempotent_records": frozenset(RecordsOptions.__annotations__)
    | frozenset(Options.__annotations__),
}
"""The options each entry point takes."""


def validate(
    entry: Literal["@idempotent", "@idempotent_records"],
    key_fn: Callable[..., object] | None,
    options: Mapping[str, Any],
) -> Policy:
    """Check the options of ``entry`` (defaults here); ConfigurationError if one is wrong.

    An option ``entry`` does not take is a ``TypeError``, as for any unexpected keyword.
    """
    unknown = sorted(set(options) - _NAMES[entry])
    if unknown:
        raise TypeError(f"{entry} got an unexpected keyword argument {unknown[0]!r}")
    checked: _AllOptions = {**options}  # type: ignore[typeddict-item]
    _check_callables(key_fn, checked, require_key_fn=entry == "@idempotent")
    namespace = checked.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not namespace):
        raise ConfigurationError("namespace must be a non-empty string")
    on_missing_key = checked.get("on_missing_key", "raise")
    if on_missing_key not in ("raise", "run"):
        raise ConfigurationError(f'on_missing_key must be "raise" or "run", got {on_missing_key!r}')
    on_unstorable = checked.get("on_unstorable_result", "raise")
    if on_unstorable not in ("raise", "omit"):
        raise ConfigurationError(
            f'on_unstorable_result must be "raise" or "omit", got {on_unstorable!r}'
        )
    on_lease_expired = checked.get("on_lease_expired", "take_over")
    if on_lease_expired not in ("take_over", "refuse"):
        raise ConfigurationError(
            f'on_lease_expired must be "take_over" or "refuse", got {on_lease_expired!r}'
        )
    wait = checked.get("wait")
    lease = checked.get("lease")
    retention = checked.get("retention", DEFAULT_RETENTION)
    lease_ms = None if lease is None else milliseconds("lease", lease)
    retention_ms = None if retention is None else milliseconds("retention", retention)
    heartbeat_ms = _heartbeat_ms(checked.get("heartbeat", False))
    _check_leases(lease_ms, retention_ms, heartbeat_ms)
    return Policy(
        store=checked.get("store"),
        namespace=namespace or "",
        clock_us=_clock_us(checked.get("clock", time.time)),
        lease_ms=lease_ms,
        default_lease_ms=milliseconds("lease", DEFAULT_LEASE),
        retention_ms=retention_ms,
        store_result=checked.get("store_result", True),
        omit_unstorable=on_unstorable == "omit",
        result_type=_result_type(checked.get("result_type")),
        cache=_cache(checked),
        on_event=checked.get("on_event"),
        on_lock_lost=checked.get("on_lock_lost"),
        heartbeat_ms=heartbeat_ms,
        disabled=checked.get("disabled"),
        fingerprint=checked.get("fingerprint"),
        on_missing_key=on_missing_key,
        concurrency=_count("concurrency", checked.get("concurrency", DEFAULT_CONCURRENCY), 1),
        on_replay=checked.get("on_replay"),
        on_lease_expired=on_lease_expired,
        wait_ms=None if wait is None else milliseconds("wait", wait),
    )


def _check_callables(
    key_fn: Callable[..., object] | None, options: _AllOptions, *, require_key_fn: bool
) -> None:
    callables = (
        ("key_fn", key_fn),
        ("fingerprint", options.get("fingerprint")),
        ("clock", options.get("clock", time.time)),
        ("on_event", options.get("on_event")),
        ("on_lock_lost", options.get("on_lock_lost")),
        ("on_replay", options.get("on_replay")),
    )
    for name, value in callables:
        if (value is not None or (name == "key_fn" and require_key_fn)) and not callable(value):
            raise ConfigurationError(f"{name} must be callable, got {type(value).__name__}")


def _check_leases(lease_ms: int | None, retention_ms: int | None, heartbeat_ms: int | None) -> None:
    """Refuse leases that cannot work: a beat after the lease ended, a lease past retention."""
    if lease_ms is not None and heartbeat_ms and heartbeat_ms >= lease_ms:
        raise ConfigurationError(
            f"heartbeat= every {heartbeat_ms / 1000:g} s cannot keep a lease of "
            f"{lease_ms / 1000:g} s: the first beat would come after the lease ended; beat more "
            "often than the lease (heartbeat=True beats every third of it)"
        )
    if lease_ms is not None and retention_ms is not None and lease_ms > retention_ms:
        raise ConfigurationError(
            f"lease= ({lease_ms / 1000:g} s) is longer than retention= "
            f"({retention_ms / 1000:g} s): a call that crashed would block its key past the "
            "key's own retention"
        )


def _clock_us(clock: Callable[[], float]) -> Callable[[], int]:
    """``clock()`` in whole microseconds; ConfigurationError when it returns no time."""

    def clock_us() -> int:
        now = clock()
        if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
            raise ConfigurationError(
                f"clock() must return epoch seconds as a finite number, it returned {now!r}"
            )
        return int(now * 1_000_000)

    return clock_us


def _cache(options: _AllOptions) -> CompletedCache | None:
    """The local cache of completed keys (``local_cache=``), else ``None``."""
    size = _count("local_cache", options.get("local_cache", 0), 0)
    ttl_ms = milliseconds(
        "local_cache_ttl", options.get("local_cache_ttl", DEFAULT_LOCAL_CACHE_TTL)
    )
    if not size:
        return None
    # Deferred: only local_cache= loads it, which keeps the cold start short.
    from idemlock._cache import CompletedCache  # noqa: PLC0415

    return CompletedCache(size, ttl_ms)


def _result_type(result_type: Any) -> Any:
    """``result_type=``: a class or a typing form (``list[Order]``), else ConfigurationError."""
    if result_type is None or isinstance(result_type, type) or is_typing_form(result_type):
        return result_type
    raise ConfigurationError(
        f"result_type must be a class or a type such as list[Order], got {result_type!r}"
    )


def _heartbeat_ms(heartbeat: bool | Duration) -> int | None:
    """``False``: none; ``True``: every third of the lease (0); a duration: that period."""
    if heartbeat is False:
        return None
    if heartbeat is True:
        return 0
    return milliseconds("heartbeat", heartbeat)


def _count(option: str, value: Any, least: int) -> int:
    """``value``, a count of at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigurationError(f"{option} must be a count >= {least}, got {value!r}")
    return value


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
    if value is None or value.strip().lower() not in _TRUE_WORDS:
        return False
    _warn_disabled_in_lambda(value)
    return True


_told_disabled_in_lambda = False


def _warn_disabled_in_lambda(value: str) -> None:
    """A WARNING, once per process, when ``IDEMLOCK_DISABLED`` switches idempotency off in Lambda.

    Meant for tests and local runs; a deployed function with it set runs every delivery
    unprotected, which must not go unnoticed.
    """
    global _told_disabled_in_lambda  # noqa: PLW0603  (told once per process, by design)
    function = os.environ.get(LAMBDA_ENV)
    if function is None or _told_disabled_in_lambda:
        return
    _told_disabled_in_lambda = True
    logger.warning(
        "%s=%s inside the Lambda function %s: idempotency is off, every call runs unprotected "
        "(told once per process)",
        DISABLED_ENV,
        value,
        function,
    )


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
