"""The claim → run → complete/release state machine, independent of any store or event loop.

One invocation is a generator, :func:`claim_steps`, that yields typed steps
(:mod:`idemlock._steps`): a driver performs each and sends back its answer, or throws back what
it raised, so the ``try``/``except`` here reads as if the calls were direct. The steps, as the
docs tell them:

1. a warm duplicate is answered from the local cache, with no call;
2. the claim: one conditional write that takes the key if it is free;
3. its answer: ours (run the body), a completed key (replay its result), or in progress;
4. the body runs, holding the lock (``RunBody``);
5. its result is stored with the complete, or the key is released after a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any, Final

from idemlock._leases import extender, heartbeat, lose
from idemlock._policy import Policy, ceil_s, fence_base, in_progress_ttl_s
from idemlock._results import close_unrun, decode, deferred, encode
from idemlock._steps import BodyFailed, Claim, Complete, Release, RunBody, Sleep, Step, Steps
from idemlock.errors import (
    ConfigurationError,
    InProgressError,
    PayloadMismatchError,
    StoreError,
    UnstorableResultError,
)
from idemlock.item import LockStatus
from idemlock.lock import Lock
from idemlock.store import Claim as ClaimRequest
from idemlock.store import ClaimResult, LockStore

logger = logging.getLogger("idemlock")

CLAIM_ATTEMPTS: Final = 3
"""Claims tried when the key changes between a failed claim and its read (a racing release)."""

COMPLETE_BACKOFF_S: Final = (0.1, 0.4)
"""Pauses between the attempts to complete after the body succeeded; botocore's own retries run
inside each attempt."""

_MISS: Final[Any] = object()


def claim_steps(
    store: LockStore,
    policy: Policy,
    *,
    key: str,
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
    cached = _cached(policy, key, fingerprint, now_ms)
    if cached is not _MISS:
        return cached
    request = ClaimRequest(
        key,
        owner,
        now_ms,
        fence_base.next(now_us),
        now_ms + lease_ms,
        in_progress_ttl_s(now_ms + lease_ms),
        fingerprint,
    )
    held = yield from _claim(store, policy, request)
    if isinstance(held, _Replay):
        return held.value
    limit_ms = None if budget_ms is None else now_ms + budget_ms
    run = _run_body(store, policy, held, lease_ms, limit_ms)
    try:
        value = yield run
    except GeneratorExit:
        raise  # abandoned by its driver: no more steps can run; the lease bounds the claim
    except BaseException as exc:
        failure = exc.error if isinstance(exc, BodyFailed) else exc
        yield from _release(store, policy, held, failure=failure, run=run)
        raise
    result = _storable(value, store, policy, held.key)
    if isinstance(result, BaseException):
        yield from _release(store, policy, held, failure=result, run=run)
        raise result
    yield from _complete(store, policy, held, result, request=request, run=run)
    return value


def _cached(policy: Policy, key: str, fingerprint: str | None, now_ms: int) -> Any:
    """A warm duplicate's value from the local cache (``local_cache=``), else ``_MISS``."""
    if policy.cache is None:
        return _MISS
    hit, cached = policy.cache.lookup(_cache_key(key, fingerprint), now_ms)
    if not hit:
        return _MISS
    policy.emit("duplicate", key, cached=True)
    return decode(cached)


def _claim(
    store: LockStore, policy: Policy, request: ClaimRequest
) -> Generator[Step, Any, Lock | _Replay]:
    """Claim until the answer is final: the lock we hold, or a duplicate's stored value."""
    for _ in range(CLAIM_ATTEMPTS):
        try:
            answer = yield Claim(store, request)
        except StoreError as exc:
            policy.emit("store_error", request.key, error=exc)
            raise
        held = _outcome(request, answer, policy)
        if held is not None:
            return held
    raise StoreError(
        f"key {request.key!r} changed under {CLAIM_ATTEMPTS} claims in a row; try again",
        operation="claim",
        key=request.key,
    )


class _Replay:
    """A duplicate: the stored result, decoded, instead of running the body."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _outcome(claim: ClaimRequest, outcome: ClaimResult, policy: Policy) -> Lock | _Replay | None:
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
        policy.emit("taken_over" if taken_over else "claimed", key, lock=held)
        return held
    if item is None or item.is_free_at(claim.now_ms):
        return None  # the holder released between our claim and our read
    if (
        claim.fingerprint is not None
        and item.fingerprint is not None
        and item.fingerprint != claim.fingerprint
    ):
        policy.emit("payload_mismatch", key, item=item)
        raise PayloadMismatchError(key)
    if item.status is LockStatus.IN_PROGRESS:
        policy.emit("in_progress", key, item=item)
        raise InProgressError(key, item.lease_expires_at_ms or claim.now_ms)
    if policy.cache is not None:
        cache_key = _cache_key(key, claim.fingerprint)
        policy.cache.remember(cache_key, item.result, item.expires_at_s, claim.now_ms)
    policy.emit("duplicate", key, item=item)
    return _Replay(decode(item.result))


def _run_body(
    store: LockStore,
    policy: Policy,
    held: Lock,
    lease_ms: int,
    limit_ms: int | None,
) -> RunBody:
    """The step that runs the body holding ``held``, which :meth:`Lock.extend` now moves."""
    held._held_with(extender(store, policy, held, limit_ms))
    return RunBody(held, heartbeat(store, policy, held, limit_ms, lease_ms))


def _storable(
    value: object, store: LockStore, policy: Policy, key: str
) -> str | ConfigurationError | UnstorableResultError | None:
    """The body's value as the complete stores it, or the error that refuses to complete.

    Deferred work (a coroutine, an iterator) is refused: its work happens when it is awaited
    or iterated, after the key would be COMPLETED, outside the lock. An unstorable result is
    refused, or completed without its result (``on_unstorable_result="omit"``).
    """
    kind = deferred(value)
    if kind is not None:
        close_unrun(value)
        return ConfigurationError(
            f"the body of {key!r} returned {kind} ({type(value).__name__}), whose work runs "
            "only when it is awaited or iterated, after the key would be completed; decorate "
            "the async def (or the function doing the work) itself, or return a plain result"
        )
    if not policy.store_result:
        return None
    result = encode(value, key, store)
    if isinstance(result, UnstorableResultError) and policy.omit_unstorable:
        logger.warning("%s; completing without storing it", result.reason)
        return None
    return result


def _complete(
    store: LockStore,
    policy: Policy,
    held: Lock,
    result: str | None,
    *,
    request: ClaimRequest,
    run: RunBody,
) -> Generator[Step, Any, None]:
    """Mark the key COMPLETED with ``result``, retrying store errors with a backoff."""
    key = held.key
    completed_at_ms = policy.clock_us() // 1000
    expires_at_s = (
        None if policy.retention_ms is None else ceil_s(completed_at_ms + policy.retention_ms)
    )
    complete = Complete(store, key, held.owner, completed_at_ms, result, expires_at_s)
    for pause_s in (*COMPLETE_BACKOFF_S, None):
        try:
            done = yield complete
        except StoreError as exc:
            if pause_s is None:
                # The body ran but the key is still IN_PROGRESS: it frees itself when the lease
                # ends, and the next delivery runs the body again.
                policy.emit("store_error", key, lock=held, error=exc)
                raise
            logger.warning("completing %r failed; retrying in %.1f s", key, pause_s)
            yield Sleep(pause_s)
            continue
        if not done:
            raise lose(policy, held)
        if policy.cache is not None:
            cache_key = _cache_key(key, request.fingerprint)
            policy.cache.remember(cache_key, result, expires_at_s, completed_at_ms)
        policy.emit("completed", key, lock=held, duration_ms=run.ms)
        return


def _release(
    store: LockStore,
    policy: Policy,
    held: Lock,
    *,
    failure: BaseException,
    run: RunBody,
) -> Generator[Step, Any, None]:
    """Free the key after ``failure``; never raises, so the body's own error stays on top."""
    key = held.key
    try:
        released = yield Release(store, key, held.owner)
    except StoreError as exc:
        logger.warning(
            "could not release %r after a failure; it frees itself when its lease ends",
            key,
            exc_info=True,
        )
        policy.emit("store_error", key, lock=held, error=exc)
        return
    if not released:
        logger.warning(
            "did not release %r: our lease expired and another invocation owns it now", key
        )
        lose(policy, held)  # as for a refused complete: lost, told once
        return
    policy.emit("released", key, lock=held, duration_ms=run.ms, error=failure)


def _cache_key(key: str, fingerprint: str | None) -> str:
    """The local cache's key: the same key with another payload misses the cache.

    The store's answer to it (PayloadMismatchError) is then the one the caller gets.
    """
    return key if fingerprint is None else f"{key}\x00{fingerprint}"
