"""The claim → run → complete/release state machine, independent of any store or event loop.

The protocol is written once, as a generator that yields *steps*: a zero-argument callable (one
blocking store call, or a backoff sleep) or :class:`RunBody` (run the wrapped function now). Small
drivers execute the steps: :func:`drive_sync` calls them inline, :func:`drive_async` runs store
calls in a worker thread so the event loop never blocks. Whatever a step raises is thrown back
into the generator at the point that yielded it, so the protocol's ``try``/``except`` reads as if
the calls were direct.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

from idemlock._levels import LEVELS
from idemlock.errors import (
    ConfigurationError,
    InProgressError,
    LockLostError,
    PayloadMismatchError,
    StoreError,
    UnstorableResultError,
)
from idemlock.item import LockItem, LockStatus
from idemlock.store import Claim, ClaimResult, LockStore

if TYPE_CHECKING:
    from idemlock._cache import CompletedCache
    from idemlock._heartbeat import Heartbeat
    from idemlock.events import EventKind, EventSink

logger = logging.getLogger("idemlock")

R = TypeVar("R")

Step = Callable[[], Any]

LAMBDA_LEASE_GRACE_MS: Final = 2_000
"""Added to a Lambda invocation's remaining time: its lease outlives it by this much, which must
exceed the clock skew between two invocations' hosts."""

CLAIM_ATTEMPTS: Final = 3
"""Claims tried when the key changes between a failed claim and its read (a racing release)."""

COMPLETE_BACKOFF_S: Final = (0.1, 0.4)
"""Pauses between the attempts to complete after the body succeeded; botocore's own retries run
inside each attempt."""


class Lock:
    """The claim a running body holds; read it with :func:`idemlock.current_lock`.

    ``fence`` strictly increases across successive claims of one key (also across a takeover and
    a failure), so a downstream write conditioned on ``fence`` rejects a stale owner.
    ``lease_expires_at_ms`` is the lease as it stands now (heartbeats and :meth:`extend` move
    it), and ``lost`` turns true once an extension or the complete finds that another
    invocation took the key over. Read-only to callers.
    """

    __slots__ = ("_attempt", "_extend", "_fence", "_key", "_lease_ms", "_lost", "_owner")

    def __init__(
        self, key: str, owner: str, fence: int, lease_expires_at_ms: int, attempt: int = 1
    ) -> None:
        self._key = key
        self._owner = owner
        self._fence = fence
        self._lease_ms = lease_expires_at_ms
        self._attempt = attempt
        self._lost = False
        self._extend: Callable[[int], None] | None = None

    @property
    def key(self) -> str:
        """The stored key, ``namespace#key``."""
        return self._key

    @property
    def owner(self) -> str:
        """The owner token of this claim."""
        return self._owner

    @property
    def fence(self) -> int:
        """The fencing token of this claim."""
        return self._fence

    @property
    def attempt(self) -> int:
        """How many times the key has been claimed, this claim included."""
        return self._attempt

    @property
    def lease_expires_at_ms(self) -> int:
        """When the lease ends now, in epoch milliseconds."""
        return self._lease_ms

    @property
    def lost(self) -> bool:
        """Whether another invocation has taken the key over (its complete will be refused)."""
        return self._lost

    def extend(self, seconds: float) -> None:
        """Move the lease to ``seconds`` from now (inside Lambda, never past the deadline).

        One conditional write on this claim's owner token; :class:`~idemlock.errors.LockLostError`
        if another invocation holds the key now. It blocks for that call: from an ``async``
        body, ``await asyncio.to_thread(lock.extend, seconds)``.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ConfigurationError(f"extend() takes positive seconds, got {seconds!r}")
        if self._extend is None:
            raise ConfigurationError(f"the lock on {self._key!r} is not held by a running body")
        self._extend(math.ceil(seconds * 1000))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lock):
            return NotImplemented
        return (self._key, self._owner, self._fence) == (other._key, other._owner, other._fence)

    def __hash__(self) -> int:
        return hash((self._key, self._owner, self._fence))

    def __repr__(self) -> str:
        return (
            f"Lock(key={self._key!r}, owner={self._owner!r}, fence={self._fence}, "
            f"lease_expires_at_ms={self._lease_ms}, attempt={self._attempt}, lost={self._lost})"
        )


def new_owner_token() -> str:
    """A fresh random owner token: 128 bits as 32 hex digits."""
    return os.urandom(16).hex()


_current_lock: ContextVar[Lock | None] = ContextVar("idemlock_current_lock", default=None)


def current_lock() -> Lock | None:
    """The :class:`Lock` held by the idempotent body running in this context, else ``None``."""
    return _current_lock.get()


class RunBody:
    """The step that means "run the wrapped function now, holding ``lock``"; then, that run.

    The driver, not the protocol, makes ``lock`` the :func:`current_lock` while the body runs:
    several protocols can be suspended at this step at once (a batch), and only the driver knows
    which body is running. It runs the body inside :meth:`holding`, which also notes when the
    body started and ended (:attr:`ms`; a batch runs it long after its claim) for the events.
    One run, one block: the block is not re-entrant.
    """

    __slots__ = ("_beat", "_token", "end", "heartbeat", "lock", "start")

    def __init__(self, lock: Lock | None, heartbeat: Heartbeat | None = None) -> None:
        self.lock = lock
        self.heartbeat = heartbeat
        """Extends the lease while the body runs (``heartbeat=``)."""
        self._beat = heartbeat  # what the block starts; holding() says from where
        self.start = self.end = 0.0

    def holding(self, *, thread_heartbeat: bool = True) -> RunBody:
        """The block to run the body in: the lock current, the body timed, beating (a thread).

        An ``async`` driver beats from a task instead: ``thread_heartbeat=False``.
        """
        self._beat = self.heartbeat if thread_heartbeat else None
        return self

    def __enter__(self) -> None:
        self._token = _current_lock.set(self.lock)
        if self._beat is not None:
            self._beat.start()
        self.start = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.end = time.perf_counter()
        if self._beat is not None:
            self._beat.stop()  # before the complete or the release: none races them
        _current_lock.reset(self._token)

    @property
    def ms(self) -> float:
        """The body's run time in milliseconds."""
        return (self.end - self.start) * 1000


Steps = Generator[Step | RunBody, Any, Any]
"""One invocation of the protocol: yields steps, returns the body's (or the stored) value."""


class BodyFailed(BaseException):
    """The body's exception on its way through the protocol: thrown in, re-raised, unwrapped.

    A driver throws this, not the body's own exception, into the protocol at :class:`RunBody`;
    the protocol releases the key and re-raises it; the driver raises ``error`` itself. The
    body's exception must never be raised inside the generator: PEP 479 turns a
    ``StopIteration`` raised there into ``RuntimeError``. A ``BaseException``, so that no
    ``except Exception`` on the way can take it for a store error.
    """

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


class FenceBase:
    """Where fences start for a key without an item: a strictly increasing time in microseconds.

    A failed invocation deletes its item, and the stored fence with it, so the next claim's fence
    must come from time. Microseconds keep claims on different hosts ordered (a release and the
    next claim are at least a network round trip apart) given clocks in sync; the ``last + 1``
    keeps them ordered within one process even when the clock stands still (a test's clock) or
    steps back.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self, now_us: int) -> int:
        """The next base: ``now_us``, or one above the previous base if that is not higher."""
        with self._lock:
            self._last = base = max(now_us, self._last + 1)
        return base


fence_base = FenceBase()


class Policy(NamedTuple):
    """The options of one decorated function that shape every invocation (read-only)."""

    clock_us: Callable[[], int]
    lease_ms: int | None
    default_lease_ms: int
    retention_ms: int | None
    store_result: bool
    omit_unstorable: bool
    cache: CompletedCache | None
    on_event: EventSink | None = None
    on_lock_lost: Callable[[Lock], object] | None = None
    heartbeat_ms: int | None = None
    """Extend a running body's lease this often; 0: every third of the lease; None: never."""

    def lease_ms_for(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
        """The lease of one invocation with these arguments (see :meth:`leases_for`)."""
        return self.leases_for(args, kwargs)[0]

    def leases_for(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[int, int | None]:
        """The lease of one invocation with these arguments, and how long any lease may last.

        Inside Lambda (a context among the arguments) no invocation outlives its deadline, so
        the lease is at most the remaining time plus a grace, whatever ``lease=`` says: a
        timed-out invocation frees its key soon after Lambda stops it. A context with no time
        left gets the grace alone. Outside Lambda: ``lease=``, else the default, and no cap.
        """
        # The context is the last argument of a Lambda handler: look there first.
        candidates = (*kwargs.values(), *reversed(args)) if kwargs else reversed(args)
        for candidate in candidates:
            remaining = getattr(candidate, "get_remaining_time_in_millis", None)
            if callable(remaining):
                millis = remaining()
                if isinstance(millis, int) or (isinstance(millis, float) and math.isfinite(millis)):
                    cap = max(int(millis), 0) + LAMBDA_LEASE_GRACE_MS
                    return (cap if self.lease_ms is None else min(self.lease_ms, cap)), cap
        return (self.default_lease_ms if self.lease_ms is None else self.lease_ms), None


def emit(
    policy: Policy,
    kind: EventKind,
    key: str,
    namespace: str,
    *,
    lock: Lock | None = None,
    item: LockItem | None = None,
    run: RunBody | None = None,
    cached: bool = False,
    error: BaseException | None = None,
) -> None:
    """Tell the ``idemlock`` logger and ``on_event`` of a transition.

    ``lock`` is our claim, ``item`` the stored item of another invocation's (their fence and
    attempt either way); ``run`` the body's, for ``duration_ms``. Nothing is built or read when
    neither listens: the usual case on the hot path (no sink, DEBUG off).
    """
    sink = policy.on_event
    if sink is None and not logger.isEnabledFor(LEVELS[kind]):
        return
    # Deferred: a handler that neither sets on_event nor logs these levels never loads
    # idemlock.events, which keeps the cold start short.
    from idemlock.events import LockEvent, log  # noqa: PLC0415

    fence: int | None = None
    attempt: int | None = None
    if lock is not None:
        fence, attempt = lock.fence, lock.attempt
    elif item is not None:
        fence, attempt = item.fence, item.attempts
    duration_ms = None if run is None else run.ms
    event = LockEvent(kind, key, namespace, fence, attempt, duration_ms, cached, error)
    log(event)
    if sink is not None:
        try:
            sink(event)
        except Exception:  # a broken metrics backend must not fail the call it measures
            logger.warning("on_event raised on a %s event of %r", kind, key, exc_info=True)


def claim_steps(
    store: LockStore,
    policy: Policy,
    *,
    key: str,
    namespace: str,
    owner: str,
    lease_ms: int,
    fingerprint: str | None,
    budget_ms: int | None = None,
) -> Steps:
    """One invocation: the body's value (run now or replayed) is the generator's return value.

    ``budget_ms``: how long from now any lease may last (a Lambda invocation's remaining time
    plus the grace); heartbeats never extend past it.
    """
    now_us = policy.clock_us()
    now_ms = now_us // 1000
    if policy.cache is not None:
        hit, cached = policy.cache.lookup(_cache_key(key, fingerprint), now_ms)
        if hit:
            emit(policy, "duplicate", key, namespace, cached=True)
            return _decode(cached)

    lease_expires_at_ms = now_ms + lease_ms
    claim = Claim(
        key,
        owner,
        now_ms,
        fence_base.next(now_us),
        lease_expires_at_ms,
        _in_progress_ttl_s(lease_expires_at_ms),
        fingerprint,
    )
    for _ in range(CLAIM_ATTEMPTS):
        try:
            answer = yield partial(store.claim, claim)
        except StoreError as exc:
            emit(policy, "store_error", key, namespace, error=exc)
            raise
        held = _outcome(claim, answer, policy, namespace)
        if held is not None:
            break
    else:
        raise StoreError(
            f"key {key!r} changed under {CLAIM_ATTEMPTS} claims in a row; try again",
            operation="claim",
            key=key,
        )
    if isinstance(held, _Replay):
        return held.value

    limit_ms = None if budget_ms is None else now_ms + budget_ms
    held._extend = partial(_extend, store, policy, held, namespace, limit_ms)
    heartbeat = (
        None
        if policy.heartbeat_ms is None
        else _heartbeat(policy.heartbeat_ms, held._extend, lease_ms)
    )
    run = RunBody(held, heartbeat)
    try:
        value = yield run
    except GeneratorExit:
        raise  # abandoned by its driver: no more steps can run; the lease bounds the claim
    except BaseException as exc:
        failure = exc.error if isinstance(exc, BodyFailed) else exc
        yield from _release(store, policy, held, namespace, failure=failure, run=run)
        raise

    deferred = _deferred(value)
    if deferred is not None:
        # The work of a coroutine or an iterator happens when it is awaited or iterated: after
        # the key would be COMPLETED, outside the lock. Never mark it done first.
        close_unrun(value)
        refused = ConfigurationError(
            f"the body of {key!r} returned {deferred} ({type(value).__name__}), whose work runs "
            "only when it is awaited or iterated, after the key would be completed; decorate "
            "the async def (or the function doing the work) itself, or return a plain result"
        )
        yield from _release(store, policy, held, namespace, failure=refused, run=run)
        raise refused

    result = _encode(value, policy, key, store)  # key: held.key, without the property call
    if isinstance(result, UnstorableResultError):
        if not policy.omit_unstorable:
            yield from _release(store, policy, held, namespace, failure=result, run=run)
            raise result
        logger.warning("%s; completing without storing it", result.reason)
        result = None
    yield from _complete(
        store, policy, held, result, fingerprint=fingerprint, namespace=namespace, run=run
    )
    return value


class _Replay:
    """A duplicate: the stored result, decoded, instead of running the body."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _outcome(
    claim: Claim, outcome: ClaimResult, policy: Policy, namespace: str
) -> Lock | _Replay | None:
    """What a claim's answer means: we hold the key, a duplicate, or ``None``: claim again."""
    item = outcome.item
    key = claim.key
    if item is not None and (outcome.acquired or item.owner == claim.owner):
        # The second case is a claim whose first response was lost: botocore retried it, and
        # the retry failed its condition against the item our first attempt wrote.
        held = Lock(key, claim.owner, item.fence, claim.lease_expires_at_ms, item.attempts)
        # Taken over: the claim replaced another invocation's claim whose lease ran out. A key
        # claimed again after its retention starts anew: claimed, as is a retried claim (the
        # store could not tell what its lost first attempt replaced).
        taken_over = outcome.replaced is LockStatus.IN_PROGRESS
        emit(policy, "taken_over" if taken_over else "claimed", key, namespace, lock=held)
        return held
    if item is None or item.is_free_at(claim.now_ms):
        return None  # the holder released between our claim and our read
    if (
        claim.fingerprint is not None
        and item.fingerprint is not None
        and item.fingerprint != claim.fingerprint
    ):
        emit(policy, "payload_mismatch", key, namespace, item=item)
        raise PayloadMismatchError(key)
    if item.status is LockStatus.IN_PROGRESS:
        emit(policy, "in_progress", key, namespace, item=item)
        raise InProgressError(key, item.lease_expires_at_ms or claim.now_ms)
    if policy.cache is not None:
        cache_key = _cache_key(key, claim.fingerprint)
        policy.cache.remember(cache_key, item.result, item.expires_at_s, claim.now_ms)
    emit(policy, "duplicate", key, namespace, item=item)
    return _Replay(_decode(item.result))


def _complete(
    store: LockStore,
    policy: Policy,
    held: Lock,
    result: str | None,
    *,
    fingerprint: str | None,
    namespace: str,
    run: RunBody,
) -> Generator[Step | RunBody, Any, None]:
    key, owner = held.key, held.owner  # read once: each is a property call
    completed_at_ms = policy.clock_us() // 1000
    expires_at_s = (
        None if policy.retention_ms is None else _ceil_s(completed_at_ms + policy.retention_ms)
    )
    for pause_s in (*COMPLETE_BACKOFF_S, None):
        try:
            done = yield lambda: store.complete(
                key,
                owner,
                now_ms=completed_at_ms,
                result=result,
                expires_at_s=expires_at_s,
            )
        except StoreError as exc:
            if pause_s is None:
                # The body ran but the key is still IN_PROGRESS: it frees itself when the lease
                # ends, and the next delivery runs the body again.
                emit(policy, "store_error", key, namespace, lock=held, error=exc)
                raise
            logger.warning("completing %r failed; retrying in %.1f s", key, pause_s)
            yield partial(time.sleep, pause_s)
            continue
        if not done:
            raise _lost(policy, held, namespace)
        if policy.cache is not None:
            cache_key = _cache_key(key, fingerprint)
            policy.cache.remember(cache_key, result, expires_at_s, completed_at_ms)
        emit(policy, "completed", key, namespace, lock=held, run=run)
        return


def _release(
    store: LockStore,
    policy: Policy,
    held: Lock,
    namespace: str,
    *,
    failure: BaseException,
    run: RunBody,
) -> Generator[Step | RunBody, Any, None]:
    """Free the key after ``failure``; never raises, so the body's own error stays on top."""
    key, owner = held.key, held.owner  # read once: each is a property call
    try:
        released = yield partial(store.release, key, owner)
    except StoreError as exc:
        logger.warning(
            "could not release %r after a failure; it frees itself when its lease ends",
            key,
            exc_info=True,
        )
        emit(policy, "store_error", key, namespace, lock=held, error=exc)
        return
    if not released:
        logger.warning(
            "did not release %r: our lease expired and another invocation owns it now", key
        )
        _lost(policy, held, namespace)  # as for a refused complete: lost, told once
        return
    emit(policy, "released", key, namespace, lock=held, run=run, error=failure)


def _encode(
    value: object, policy: Policy, key: str, store: LockStore
) -> str | UnstorableResultError | None:
    """The result as stored, or why it cannot be.

    A store may state a ``max_result_bytes`` limit, and ``stored_result_bytes(text)`` when it
    stores less than the text (DynamoDB compresses large results): only a result over the limit
    as stored is unstorable.
    """
    if not policy.store_result:
        return None
    if value is None:
        return "null"  # the most common result (a handler that returns nothing), ready-made
    try:
        text = _JSON.encode(value)
        size = len(text.encode("utf-8"))  # a lone surrogate in a str is not UTF-8
    except (TypeError, ValueError, RecursionError) as exc:
        error = UnstorableResultError(key, f"it is not JSON-serialisable ({exc})")
        error.__cause__ = exc
        return error
    limit: int | None = getattr(store, "max_result_bytes", None)
    if limit is not None and size > limit:
        measure = getattr(store, "stored_result_bytes", None)
        stored = size if measure is None else measure(text)
        if stored > limit:
            return UnstorableResultError(
                key, f"its JSON is {size} bytes ({stored} as stored), over the {limit}-byte limit"
            )
    if isinstance(value, _CONTAINERS):
        bad = _non_str_key(value)
        if bad is not _NO_KEY:
            # JSON writes 1, 1.0, True and None as "1", "1.0", "true", "null": the replay would
            # differ, and {1: "a", "1": "b"} would lose an entry. Strict JSON, no coercion.
            return UnstorableResultError(
                key, f"its dict key {bad!r} is not a string (JSON would store it as text)"
            )
    return text


_CONTAINERS: Final = (dict, list, tuple)
"""What JSON encodes with members: where a dict with a non-string key can hide."""

_NO_KEY: Final[Any] = object()


def _non_str_key(value: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> Any:
    """The first dict key in ``value`` that is not a ``str``; ``_NO_KEY`` when there is none.

    Called after the value encoded, so it has no cycles. A loop over a stack, not recursion: a
    result nested deeper than the recursion limit encodes (the C encoder) and must be walked.
    """
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for member_key, member in item.items():
                if not isinstance(member_key, str):
                    return member_key
                if isinstance(member, _CONTAINERS):
                    stack.append(member)
        else:
            stack.extend(member for member in item if isinstance(member, _CONTAINERS))
    return _NO_KEY


def close_unrun(work: object) -> None:
    """Close refused deferred work (a coroutine, a generator) so it never runs, nor warns."""
    close = getattr(work, "close", None)
    if callable(close):
        close()


_PLAIN: Final = frozenset({type(None), dict, list, str, int, float, bool})
"""Result types that are certainly not deferred work: the common case, decided at once."""


def _deferred(value: object) -> str | None:
    """What kind of deferred work ``value`` is (an awaitable, an iterator), else ``None``."""
    if type(value) in _PLAIN:
        return None
    if isinstance(value, Awaitable):
        return "an awaitable"
    if isinstance(value, AsyncIterator):
        return "an async iterator"
    if isinstance(value, Iterator):
        return "an iterator"
    return None


_JSON = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))
"""Strict, compact JSON; made once, as ``json.dumps`` with options would make one per call."""


def _cache_key(key: str, fingerprint: str | None) -> str:
    """The local cache's key: the same key with another payload misses the cache.

    The store's answer to it (PayloadMismatchError) is then the one the caller gets.
    """
    return key if fingerprint is None else f"{key}\x00{fingerprint}"


def _decode(result: str | None) -> Any:
    if result is None or result == "null":
        return None  # the most common result (see _encode), without the JSON parser
    try:
        return json.loads(result)
    except RecursionError:
        # Stored from a shallow stack, replayed from a deep one: decode on a fresh thread,
        # whose stack is as shallow as the one that encoded it.
        with ThreadPoolExecutor(max_workers=1) as fresh_stack:
            return fresh_stack.submit(json.loads, result).result()


def extend_lease(
    store: LockStore, policy: Policy, lock: Lock, namespace: str, lease_expires_at_ms: int
) -> Lock:
    """``lock`` with its lease moved to ``lease_expires_at_ms`` on the store (one call).

    Raises :class:`LockLostError` when the key is no longer ours in progress: our lease ran out
    and another invocation took the key over.
    """
    try:
        extended = store.extend(
            lock.key,
            lock.owner,
            lease_expires_at_ms=lease_expires_at_ms,
            expires_at_s=_in_progress_ttl_s(lease_expires_at_ms),
        )
    except StoreError as exc:
        emit(policy, "store_error", lock.key, namespace, lock=lock, error=exc)
        raise
    if not extended:
        raise _lost(policy, lock, namespace)
    lock._lease_ms = lease_expires_at_ms
    emit(policy, "extended", lock.key, namespace, lock=lock)
    return lock


def _lost(policy: Policy, lock: Lock, namespace: str) -> LockLostError:
    """Mark ``lock`` lost; tell the logger, ``on_event`` and ``on_lock_lost``; the error."""
    lost = LockLostError(lock.key, lock.owner)
    if lock._lost:
        return lost  # told once already (a beat found it before the complete did)
    lock._lost = True
    emit(policy, "lock_lost", lock.key, namespace, lock=lock, error=lost)
    if policy.on_lock_lost is not None:
        try:
            policy.on_lock_lost(lock)
        except Exception:  # the body learns it from current_lock().lost all the same
            logger.warning("on_lock_lost raised for %r", lock.key, exc_info=True)
    return lost


def _extend(  # noqa: PLR0917  (a partial binds all but the last)
    store: LockStore,
    policy: Policy,
    held: Lock,
    namespace: str,
    limit_ms: int | None,
    lease_ms: int,
) -> None:
    """Move ``held``'s lease to ``lease_ms`` from now, never past ``limit_ms``.

    What :meth:`Lock.extend` and heartbeats call, through the partial that ``claim_steps`` binds
    to all but ``lease_ms``. ``limit_ms``: inside Lambda, the deadline plus the grace.
    """
    target = policy.clock_us() // 1000 + lease_ms
    if limit_ms is not None:
        target = min(target, limit_ms)
    if target <= held.lease_expires_at_ms:
        return  # at the deadline already: nothing to gain, no call
    extend_lease(store, policy, held, namespace, target)


def _heartbeat(heartbeat_ms: int, extend: Callable[[int], None], lease_ms: int) -> Heartbeat:
    """A heartbeat calling ``extend(lease_ms)`` (see :func:`_extend`) while the body runs.

    Every ``heartbeat_ms`` (0: a third of the lease), so that two beats can fail before the
    lease runs out. A lost lock stops it (``lock_lost`` is emitted); a store error is emitted and
    the next beat tries again. Only with ``heartbeat=`` (``Policy.heartbeat_ms`` not ``None``).
    """
    # Deferred: only heartbeat= loads it, which keeps the cold start short.
    from idemlock._heartbeat import Heartbeat  # noqa: PLC0415

    def beat() -> bool:
        try:
            extend(lease_ms)
        except LockLostError:
            return False
        except StoreError:
            return True  # emitted; the lease still has two periods left for the next beat
        return True

    period_ms = heartbeat_ms or max(1, lease_ms // 3)
    return Heartbeat(beat, period_ms / 1000)


def _in_progress_ttl_s(lease_expires_at_ms: int) -> int:
    """The TTL of an IN_PROGRESS item: an hour after its lease.

    TTL may remove an abandoned item once its lease is long over; leases are still enforced by
    the claim's condition, never by TTL.
    """
    return _ceil_s(lease_expires_at_ms) + 3600


def _ceil_s(epoch_ms: int) -> int:
    return -(-epoch_ms // 1000)  # integer ceiling: exact at any size, no float


def drive_sync(steps: Steps, body: Callable[[], R]) -> R:
    """Run the protocol with direct calls."""
    sent: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.send(sent) if error is None else steps.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except BodyFailed as failed:
            body_error = failed.error
            break
        error = None
        if isinstance(step, RunBody):
            with step.holding():
                try:
                    sent = body()
                except BaseException as exc:
                    sent, error = None, BodyFailed(exc)
        else:
            try:
                sent = step()
            except BaseException as exc:
                sent, error = None, exc
    # Raised here, outside the except clause, so that the body's exception comes back as it
    # was raised: its __context__ is not set to our BodyFailed.
    raise body_error


async def _run_async_body(
    step: RunBody, body: Callable[[], Awaitable[Any]]
) -> tuple[Any, BodyFailed | None]:
    """The body's value, or its exception wrapped, with its heartbeat as a task beside it."""
    with step.holding(thread_heartbeat=False):
        if step.heartbeat is not None:
            await step.heartbeat.start_async()
        try:
            return await body(), None
        except BaseException as exc:
            return None, BodyFailed(exc)
        finally:
            if step.heartbeat is not None:
                await step.heartbeat.stop_async()


async def drive_async(steps: Steps, body: Callable[[], Awaitable[R]]) -> R:
    """Run the protocol with store calls in a worker thread and the body on the event loop."""
    loop = asyncio.get_running_loop()
    sent: Any = None
    error: BaseException | None = None
    cancelled: BaseException | None = None
    while True:
        try:
            step = steps.send(sent) if error is None else steps.throw(error)
        except StopIteration as stop:
            if cancelled is not None:
                raise cancelled from None
            return stop.value  # type: ignore[no-any-return]
        except BodyFailed as failed:
            body_error = failed.error
            break
        error = None
        if isinstance(step, RunBody):
            if cancelled is not None:
                error = cancelled  # the body never starts; the protocol releases the claim
                continue
            sent, error = await _run_async_body(step, body)
            continue
        # A store call runs in a thread, which a cancellation cannot stop: a claim cancelled
        # in flight still lands. So wait for what it did (shielded), let the protocol see it,
        # and cancel at the next step instead: a landed claim is released at once, rather
        # than blocking the key for its whole lease.
        call = loop.run_in_executor(None, step)
        try:
            sent = await asyncio.shield(call)
        except asyncio.CancelledError as exc:
            if cancelled is not None:
                raise  # cancelled again while finishing: give up; the lease bounds the claim
            cancelled = exc
            try:
                sent = await asyncio.shield(call)
            except asyncio.CancelledError:
                raise
            except BaseException as call_error:
                sent, error = None, call_error
        except BaseException as exc:
            sent, error = None, exc
    raise body_error
