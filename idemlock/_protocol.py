"""The claim → run → complete/release state machine, independent of any store or event loop.

One invocation is a generator, :func:`claim_steps`, that yields typed steps
(:mod:`idemlock._steps`): a driver performs each and sends back its answer, or throws back what
it raised, so the ``try``/``except`` here reads as if the calls were direct. The steps, as the
docs tell them:

1. a warm duplicate is answered from the local cache, with no call;
2. the claim: one conditional write that takes the key if it is free;
3. its answer: ours (run the body), a completed key (replay its result), or in progress
   (``wait=``: read until it completes or is freed; ``on_lease_expired="refuse"``: a lapsed
   claim is marked an unknown outcome, not taken over);
4. the body runs, holding the lock (``RunBody``);
5. its result is stored with the complete, or the key is released after a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any, Final, NamedTuple

from idemlock._leases import Renewal, extender, heartbeat, lose
from idemlock._policy import Policy, ceil_s, fence_base, in_progress_ttl_s
from idemlock._recovery import Recovery
from idemlock._results import close_unrun, deferred, encode, replay, unstored
from idemlock._steps import (
    BodyFailed,
    Claim,
    Complete,
    Free,
    MarkUnknown,
    Read,
    Release,
    RunBody,
    Sleep,
    Step,
    Steps,
)
from idemlock._waiting import Waiting
from idemlock.errors import (
    ConfigurationError,
    InProgressError,
    OutcomeUnknownError,
    PayloadMismatchError,
    StoreError,
    UnstorableResultError,
)
from idemlock.item import LockItem, LockStatus
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
    limit_ms = None if budget_ms is None else now_ms + budget_ms
    renew = _Requests(policy, key, owner, lease_ms, limit_ms, fingerprint)
    waiting = None if policy.wait_ms is None else Waiting(policy.wait_ms, budget_ms)
    request = renew(now_us)
    claimed = yield from _claim(store, policy, request, renew, waiting)
    if isinstance(claimed, _Replay):
        return claimed.value
    held = claimed.lock
    run = _run_body(store, policy, claimed, lease_ms, limit_ms)
    try:
        value = yield run
    except GeneratorExit:
        raise  # abandoned by its driver: no more steps can run; the lease bounds the claim
    except BaseException as exc:
        failure = exc.error if isinstance(exc, BodyFailed) else exc
        yield from _release(store, policy, held, failure=failure, run=run)
        raise
    result = _storable(value, store, policy, held.key)
    if isinstance(result, ConfigurationError):
        yield from _release(store, policy, held, failure=result, run=run)
        raise result
    if isinstance(result, UnstorableResultError):
        # The body ran: complete the key with the reason in place of the result, so that no
        # duplicate runs it again (a release here would re-run its side effects).
        yield from _complete(store, policy, held, unstored(result.reason), request=request, run=run)
        if not policy.omit_unstorable:
            raise result
        logger.warning("%s; completed %r without storing it", result.reason, held.key)
        return value
    yield from _complete(store, policy, held, result, request=request, run=run)
    return value


def _cached(policy: Policy, key: str, fingerprint: str | None, now_ms: int) -> Any:
    """A warm duplicate's value from the local cache (``local_cache=``), else ``_MISS``."""
    if policy.cache is None:
        return _MISS
    item = policy.cache.lookup(_cache_key(key, fingerprint), now_ms)
    if item is None:
        return _MISS
    policy.emit("duplicate", key, item=item, cached=True)
    return _replayed(policy, item)


class _Requests:
    """The claim requests of one call: the first, and each later one at a later time.

    A later claim (after a racing release, or after waiting) has a lease from its own time,
    still within the invocation's ``limit_ms``, and a fence base of its own.
    """

    __slots__ = ("_fingerprint", "_key", "_lease_ms", "_limit_ms", "_owner", "_policy")

    def __init__(  # noqa: PLR0917  (one call's fixed parts)
        self,
        policy: Policy,
        key: str,
        owner: str,
        lease_ms: int,
        limit_ms: int | None,
        fingerprint: str | None,
    ) -> None:
        self._policy, self._key, self._owner = policy, key, owner
        self._lease_ms, self._limit_ms, self._fingerprint = lease_ms, limit_ms, fingerprint

    def __call__(self, now_us: int | None = None) -> ClaimRequest:
        """The claim at ``now_us`` (default: the policy's clock now)."""
        now_us = self._policy.clock_us() if now_us is None else now_us
        now_ms = now_us // 1000
        lease_ends_ms = now_ms + self._lease_ms
        if self._limit_ms is not None:
            lease_ends_ms = min(lease_ends_ms, max(self._limit_ms, now_ms + 1))
        return ClaimRequest(
            self._key,
            self._owner,
            now_ms,
            fence_base.next(now_us),
            lease_ends_ms,
            in_progress_ttl_s(lease_ends_ms),
            self._fingerprint,
            self._policy.on_lease_expired == "take_over",
        )


def _claim(
    store: LockStore,
    policy: Policy,
    request: ClaimRequest,
    renew: _Requests,
    waiting: Waiting | None,
) -> Generator[Step, Any, _Held | _Replay]:
    """Claim until the answer is final: the lock we hold, or a duplicate's stored value.

    Another invocation's claim within its lease raises ``InProgressError``, or with
    ``wait=``, is read (never claimed) until it completes, is freed (claimed then) or the wait
    is over; a lapsed one under ``on_lease_expired="refuse"`` raises ``OutcomeUnknownError``.
    """
    key = request.key
    answer = yield from _store_call(policy, key, Claim(store, request))
    claims, told = 1, False
    while True:
        found = _outcome(request, answer, policy)
        if isinstance(found, LockItem):
            found = yield from _unknown_or_busy(store, policy, request, found)
        if found is None:  # freed under us (or our mark raced a change): claim again
            if claims == CLAIM_ATTEMPTS:
                raise StoreError(
                    f"key {key!r} changed under {CLAIM_ATTEMPTS} claims in a row; try again",
                    operation="claim",
                    key=key,
                )
            request = renew()
            answer = yield from _store_call(policy, key, Claim(store, request))
            claims += 1
            continue
        if not isinstance(found, LockItem):
            return found
        # Held within its lease by another invocation: told once per call.
        if not told:
            policy.emit("in_progress", key, item=found)
            told = True
        lease_ends_ms = found.lease_expires_at_ms or request.now_ms
        pause_s = None if waiting is None else waiting.pause_s(lease_ends_ms - request.now_ms)
        if pause_s is None:
            raise InProgressError(key, lease_ends_ms)
        yield Sleep(pause_s)
        item = yield from _store_call(policy, key, Read(store, key))
        request = renew()  # the read's answer is judged at the time it came back
        answer, claims = ClaimResult(False, item), 0


def _unknown_or_busy(
    store: LockStore, policy: Policy, request: ClaimRequest, found: LockItem
) -> Generator[Step, Any, LockItem | None]:
    """Another invocation's claim: busy (returned), freed (``None``), or an unknown outcome.

    Only a claim that may not take over (``on_lease_expired="refuse"``) sees a lapsed lease:
    it marks the item, so that no claim runs the body again until an operator decides.
    """
    key = request.key
    if found.outcome_unknown_at_ms is None and found.is_free_at(request.now_ms):
        marked = yield from _store_call(
            policy, key, MarkUnknown(store, key, found.owner, request.now_ms)
        )
        if not marked:
            return None  # completed, released or extended meanwhile: look again
        found = found._replace(outcome_unknown_at_ms=request.now_ms)
    if found.outcome_unknown_at_ms is not None:
        policy.emit("outcome_unknown", key, item=found)
        raise OutcomeUnknownError(key, found.fence)
    return found


def _store_call(
    policy: Policy, key: str, step: Claim | Read | MarkUnknown
) -> Generator[Step, Any, Any]:
    """A store step before the body: its answer; a store error is told, then raised."""
    try:
        return (yield step)
    except StoreError as exc:
        policy.emit("store_error", key, error=exc)
        raise


class _Held(NamedTuple):
    """The key is ours: the lock, and the steps an earlier run recorded on the item."""

    lock: Lock
    steps: tuple[tuple[str, str], ...]


class _Replay:
    """A duplicate: the stored result, decoded, instead of running the body."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _outcome(
    claim: ClaimRequest, outcome: ClaimResult, policy: Policy
) -> _Held | _Replay | LockItem | None:
    """What a claim's answer means: we hold the key, a duplicate, or ``None``: claim again.

    Another invocation's ``IN_PROGRESS`` item comes back as it is, for :func:`_claim`.
    """
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
        return _Held(held, item.steps)
    if item is None:
        return None  # the holder released between our claim and our read
    lapsed_kept = not claim.take_over and item.status is LockStatus.IN_PROGRESS
    if item.is_free_at(claim.now_ms) and not lapsed_kept:
        return None
    if (
        claim.fingerprint is not None
        and item.fingerprint is not None
        and item.fingerprint != claim.fingerprint
    ):
        policy.emit("payload_mismatch", key, item=item)
        raise PayloadMismatchError(key)
    if item.status is LockStatus.IN_PROGRESS:
        return item
    if policy.cache is not None:
        cache_key = _cache_key(key, claim.fingerprint)
        policy.cache.remember(cache_key, item, claim.now_ms)
    policy.emit("duplicate", key, item=item)
    return _Replay(_replayed(policy, item))


def _replayed(policy: Policy, item: LockItem) -> Any:
    """What a duplicate returns: the stored result as the return type says, or ``on_replay``'s.

    ``on_replay(value, item)`` makes what it returns of the stored value. The hook's exception
    reaches the caller unchanged, as a body's does (and the key stays COMPLETED). It leaves as
    :class:`BodyFailed`, which the drivers unwrap: raised inside this generator, a
    ``StopIteration`` would become ``RuntimeError`` (PEP 479).
    """
    value = replay(
        item.result,
        item.key,
        result_type=policy.result_type,
        omit_unstorable=policy.omit_unstorable,
    )
    hook = policy.on_replay
    if hook is None:
        return value
    try:
        return hook(value, item)
    except Exception as exc:
        logger.warning(
            "on_replay raised %r replaying %r: the body did not run, the key stays completed",
            exc,
            item.key,
        )
        raise BodyFailed(exc) from None


def _run_body(
    store: LockStore,
    policy: Policy,
    claimed: _Held,
    lease_ms: int,
    limit_ms: int | None,
) -> RunBody:
    """The step that runs the body holding the lock, with an earlier run's recorded steps.

    :meth:`Lock.extend` now moves the lock; ``idemlock.step`` replays and records on it.
    """
    held = claimed.lock
    held._held_with(extender(store, policy, held, limit_ms))
    beats = heartbeat(store, policy, held, limit_ms, lease_ms)
    renewal = Renewal(store, policy, held, lease_ms, limit_ms)
    return RunBody(held, beats, Recovery(store, policy, held, claimed.steps), renewal)


def _storable(
    value: object, store: LockStore, policy: Policy, key: str
) -> str | ConfigurationError | UnstorableResultError | None:
    """The body's value as the complete stores it, or the error that refuses to store it.

    Deferred work (a coroutine, an iterator) is refused: its work happens when it is awaited
    or iterated, after the key would be COMPLETED, outside the lock; the key is released. An
    unstorable result is returned as its error: the key completes without it.
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
    try:
        return encode(value, key, store, policy.result_type)
    except UnstorableResultError as exc:
        return exc


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
            item = LockItem(
                key,
                LockStatus.COMPLETED,
                held.owner,
                held.fence,
                request.now_ms,
                expires_at_s=expires_at_s,
                completed_at_ms=completed_at_ms,
                attempts=held.attempt,
                result=result,
                fingerprint=request.fingerprint,
            )  # as this complete wrote it: what a replay from the cache hands to on_replay
            policy.cache.remember(cache_key, item, completed_at_ms)
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
    """Free the key after ``failure``; never raises, so the body's own error stays on top.

    With steps recorded the item stays, freed, so that the retry replays them. A step that ran
    but could not be recorded keeps the key held instead: it frees itself when its lease ends.
    """
    key = held.key
    if run.recovery is not None and run.recovery.unrecorded is not None:
        logger.warning(
            "step %r of %r ran but could not be recorded: the key stays held until its lease "
            "ends, so that the step does not run again at once",
            run.recovery.unrecorded,
            key,
        )
        return
    free = run.recovery is not None and run.recovery.keeps_steps
    try:
        released = yield (
            Free(store, key, held.owner, policy.clock_us() // 1000)
            if free
            else Release(store, key, held.owner)
        )
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
