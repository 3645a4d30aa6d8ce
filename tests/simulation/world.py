"""The simulated world: a virtual clock, an agenda of invocations, and a store that misbehaves.

Why not pure virtual time: idemlock runs threads of its own (a heartbeat waits on real time, a
batch sends store calls from a thread pool, an ``async`` driver from the loop's executor), and the
simulation drives only the public API, so it cannot own those threads. Instead:

- **Time** is a :class:`VirtualClock`, passed as ``clock=``; it moves only when a body sleeps
  (:meth:`World.sleep`), in steps of at most :data:`STEP_S`. Store calls take no virtual time.
- **Concurrency** is nesting: the agenda's invocations that fall due while a body sleeps run
  inside that sleep, on the sleeping thread, so a duplicate delivery overlaps the body it
  duplicates at a time the seed chose. (A nested invocation ends before the outer body goes
  on: an outer body may sleep longer than it asked, which the checker allows for.)
- **Heartbeats** are idemlock's own threads, beating on real time every
  :data:`HEARTBEAT_S`: after each virtual step, :meth:`World.sleep` waits (real time, bounded by
  :data:`BEAT_WAIT_S`) until every running body's lease stands a whole lease ahead of the
  clock, so in virtual time a heartbeat beats once per step, as if its period were the step.
  A heartbeat that cannot beat (blocked behind a sink, say) only costs that bounded wait.
- **Store calls** from idemlock's threads land when they land; :meth:`World.sleep` lets them
  settle before each step. The schedule in virtual time is the seed's; a seed replays the same
  history as long as those threads keep up (a failure prints its history either way).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import random
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from unittest import mock

from idemlock import Claim, ClaimResult, Lock, LockItem, LockStore
from idemlock.errors import StoreError
from idemlock.store import CompleteRequest, ReleaseRequest
from tests.simulation.history import History

START = 1_800_000_000.0
"""The virtual epoch (seconds) every run starts at; histories print times relative to it."""

STEP_S = 0.25
"""The longest virtual step of a sleep: a heartbeat's lease (at least 1 s) sees four a lease."""

HEARTBEAT_S = 0.002
"""The real period given as ``heartbeat=``: each virtual step waits for one beat."""

BEAT_WAIT_S = 0.5
"""Real seconds a step waits for a heartbeat that should beat, before going on without it."""

ORDERED_MARK = "-stream#"
"""In a stored key, what marks a record of an ordered source (the namespace's end)."""

LATE_S = 0.2
"""Virtual seconds a late answer takes to come back."""

PARK_TIMEOUT_S = 10.0
"""Real seconds a passenger waits for the clock at most (the driving thread moves it sooner)."""

TICK = "tick"
"""The agenda's label for a passenger's waking time: nothing to do but move the clock there."""

_real_sleep = time.sleep

_Entry = TypeVar("_Entry")
_Answer = TypeVar("_Answer")


def _answered(call: Callable[[_Entry], _Answer], entry: _Entry) -> _Answer | StoreError:
    """One statement of a batch call: its answer, or the StoreError it failed with."""
    try:
        return call(entry)
    except StoreError as exc:
        return exc


def _nothing() -> None:
    """A tick's action."""


class VirtualClock:
    """Epoch seconds that move only when told to; ``clock=`` for every decorated function."""

    def __init__(self) -> None:
        self._now = START
        self._moved = threading.Condition()

    def __call__(self) -> float:
        with self._moved:
            return self._now

    def advance_to(self, moment: float) -> None:
        """Move the clock to ``moment`` (never backwards)."""
        with self._moved:
            if moment > self._now:
                self._now = moment
                self._moved.notify_all()

    def wait_until(self, moment: float, give_up: Callable[[], bool], timeout_s: float) -> None:
        """Block (real time, at most ``timeout_s``) until the clock reaches ``moment``."""
        deadline = time.monotonic() + timeout_s
        with self._moved:
            while self._now < moment and not give_up() and time.monotonic() < deadline:
                self._moved.wait(0.005)


@dataclass
class Running:
    """A body running now: the claim it holds and whether a heartbeat keeps it."""

    lock: Lock
    lease_ms: int
    heartbeat: bool
    patience_s: float = 0.5
    """Real seconds a step waits for this body's heartbeat (see :data:`BEAT_WAIT_S`)."""


class World:
    """The clock, the agenda of invocations, the running bodies and the history of one run."""

    def __init__(self, history: History) -> None:
        self.clock = VirtualClock()
        self.history = history
        self._agenda: list[tuple[float, int, str, Callable[[], None]]] = []
        self._scheduled = 0
        self._agenda_lock = threading.Lock()
        self._driving = threading.local()
        self.in_store = threading.local()
        """``in_store.on`` while this thread is inside a store call."""
        self.manual = threading.local()
        """``manual.on`` while a body's own ``extend()`` call is in flight (late answers)."""
        self._running: dict[str, Running] = {}
        self._blocked: set[tuple[str, int]] = set()
        self._state_lock = threading.Lock()
        self._roles = threading.local()
        self._passengers: dict[object, float | None] = {}
        """Each passenger thread (or executor job): when it wakes (virtual epoch seconds),
        ``None`` while awake, infinity while its loop waits on its executor."""
        self._passenger_threads: list[threading.Thread] = []
        self.dead: set[str] = set()
        """Owner tokens of killed workers: none of their calls reaches the store any more."""
        self.quiet: Callable[[], bool] = lambda: True
        """Whether the store has no call in flight (set by :class:`SimStore`)."""

    def now(self) -> float:
        """Virtual seconds since the run started."""
        return self.clock() - START

    def at(self, moment: float, label: str, action: Callable[[], None]) -> None:
        """Run ``action`` when the clock reaches ``moment`` (seconds since the start)."""
        with self._agenda_lock:
            self._scheduled += 1  # ties run in the order they were scheduled
            heapq.heappush(self._agenda, (START + moment, self._scheduled, label, action))

    def run(self) -> None:
        """Run the whole agenda, in time order, on this thread; then wait for the passengers."""
        self._driving.on = True
        while True:
            due = self._pop(None)
            if due is None:
                self._settle()  # a passenger still awake may put more on the agenda
                if self._pop_peek():
                    continue
                break
            self.clock.advance_to(due[0])
            self._settle()
            self._perform(due)
        for thread in self._passenger_threads:
            thread.join(PARK_TIMEOUT_S)

    def spawn(self, label: str, action: Callable[[], None]) -> None:
        """Run ``action`` now on a thread of its own: a **passenger** of virtual time.

        A passenger never moves the clock: its sleeps wait until the driving thread has moved
        it (:meth:`park`), so it runs beside the bodies of the driving thread, truly at once:
        how a waiter (``wait=``) can see the call it waits for complete. The driving thread goes
        on once the passenger is parked (or done).
        """

        def main() -> None:
            self._roles.passenger = True
            try:
                action()
            except Exception as exc:  # an untyped error out of idemlock, or a broken actor
                self.history.violation(self.now(), f"{label} raised {exc!r}")
            finally:
                with self._state_lock:
                    self._passengers.pop(threading.current_thread(), None)

        thread = threading.Thread(target=main, name=f"sim-{label}", daemon=True)
        with self._state_lock:
            self._passengers[thread] = None  # awake until it parks
        self._passenger_threads.append(thread)
        self.history.note(self.now(), f"invoke {label} (on its own thread)")
        thread.start()
        self._settle()

    def passenger(self) -> bool:
        """Whether this thread is a passenger (:meth:`spawn`)."""
        return bool(getattr(self._roles, "passenger", False))

    def park(self, seconds: float) -> None:
        """A passenger waits ``seconds`` of virtual time, moved on by the driving thread."""
        me = getattr(self._roles, "key", None) or threading.current_thread()
        wake = self.clock() + seconds
        self.at(wake - START, TICK, _nothing)  # so that the driving thread moves time to it
        with self._state_lock:
            before = self._passengers.get(me)
            self._passengers[me] = wake
        self.clock.wait_until(wake, give_up=lambda: False, timeout_s=PARK_TIMEOUT_S)
        with self._state_lock:
            self._passengers[me] = before

    def run_loop(self, call: Coroutine[Any, Any, object]) -> object:
        """Run a passenger's ``async`` call: its loop's executor threads work as passengers.

        While the loop waits on them, this thread counts as parked: each executor job counts
        as awake from when it is handed over until it ends, or parks.
        """

        async def main() -> object:
            asyncio.get_running_loop().set_default_executor(_PassengerPool(self))
            return await call

        me = threading.current_thread()
        with self._state_lock:
            self._passengers[me] = math.inf
        try:
            return asyncio.run(main())
        finally:
            with self._state_lock:
                self._passengers[me] = None

    def aboard(self, token: object, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` on this executor thread as the passenger job ``token``."""
        self._roles.passenger, self._roles.key = True, token
        try:
            return fn(*args)
        finally:
            self._roles.key = None
            with self._state_lock:
                self._passengers.pop(token, None)

    def boarding(self) -> object:
        """A new passenger job, awake from now (it is handed to an executor thread)."""
        token = object()
        with self._state_lock:
            self._passengers[token] = None
        return token

    def sleep(self, seconds: float) -> None:
        """A body's work taking ``seconds`` of virtual time; due invocations run meanwhile.

        On a passenger's thread it waits for the time instead (:meth:`park`).
        """
        if self.passenger():
            self.park(seconds)
            return
        was_driving = getattr(self._driving, "on", False)
        self._driving.on = True
        try:
            end = self.clock() + seconds
            while self.clock() < end:
                step_end = min(end, self.clock() + STEP_S)
                with self._agenda_lock:
                    if self._agenda:
                        step_end = min(step_end, max(self._agenda[0][0], self.clock()))
                self.clock.advance_to(step_end)
                self._settle()
                while (due := self._pop(self.clock())) is not None:
                    self._perform(due)
        finally:
            self._driving.on = was_driving

    def kill(self, owner: str) -> None:
        """The worker holding ``owner``'s claim dies: its later calls never arrive."""
        self.dead.add(owner)

    def driving(self) -> bool:
        """Whether this thread moves the clock (it runs the agenda or a sleeping body)."""
        return bool(getattr(self._driving, "on", False))

    @contextmanager
    def virtual_sleeps(self) -> Iterator[None]:
        """``time.sleep`` takes virtual time on a driving thread, almost no time elsewhere.

        idemlock pauses between attempts to complete: on the thread that runs the protocol
        that is time passing (other invocations go on); on a batch's pool thread, or inside a
        store call (botocore's backoff), it is skipped.
        """

        def sleep(seconds: float) -> None:
            if getattr(self.in_store, "on", False):
                _real_sleep(min(seconds, 0.001))
            elif self.driving() or self.passenger():
                self.sleep(seconds)
            else:
                _real_sleep(min(seconds, 0.001))

        with mock.patch("time.sleep", sleep):
            yield

    # -- the bodies running now, for heartbeats ------------------------------------------

    def body_running(
        self, lock: Lock, lease_ms: int, *, heartbeat: bool, patience_s: float = BEAT_WAIT_S
    ) -> None:
        """A body holding ``lock`` started (a heartbeat beats beside it if ``heartbeat``).

        ``patience_s``: how long a step waits for its heartbeat; short for a body that blocks
        the thread a heartbeat might need (an ``async`` body blocking its loop), so that a
        heartbeat that cannot beat costs little, and one on a thread of its own still beats.
        """
        with self._state_lock:
            self._running[lock.owner] = Running(lock, lease_ms, heartbeat, patience_s)

    def body_ended(self, lock: Lock) -> None:
        """The body holding ``lock`` returned or raised."""
        with self._state_lock:
            self._running.pop(lock.owner, None)

    def is_running(self, key: str, fence: int) -> bool:
        """Whether the body of claim ``fence`` on ``key`` is still running."""
        with self._state_lock:
            return any(r.lock.key == key and r.lock.fence == fence for r in self._running.values())

    @contextmanager
    def blocked(self, key: str, fence: int) -> Iterator[None]:
        """A sink holds the thread that emitted an event of this claim (a heartbeat's)."""
        with self._state_lock:
            self._blocked.add((key, fence))
        try:
            yield
        finally:
            with self._state_lock:
                self._blocked.discard((key, fence))

    def _settle(self) -> None:
        """Let store calls in flight land, and every heartbeat beat once at this time."""
        _real_sleep(0.0002)
        began = time.monotonic()
        while time.monotonic() < began + BEAT_WAIT_S:
            if (
                self.quiet()
                and not self._beat_due(time.monotonic() - began)
                and not self._passenger_due()
            ):
                return
            _real_sleep(0.0005)
        self.history.note(self.now(), "a heartbeat did not beat within its step")

    def _beat_due(self, waited_s: float) -> bool:
        now_ms = int(self.clock() * 1_000_000) // 1000  # as idemlock reads its clock
        with self._state_lock:
            return any(
                r.heartbeat
                and waited_s < r.patience_s
                and not r.lock.lost
                and r.lock.lease_expires_at_ms < now_ms + r.lease_ms
                and (r.lock.key, r.lock.fence) not in self._blocked
                for r in self._running.values()
            )

    def _passenger_due(self) -> bool:
        """Whether a passenger is awake (or its time has come): the step waits for it to park."""
        now = self.clock()
        with self._state_lock:
            return any(wake is None or wake <= now for wake in self._passengers.values())

    def _pop_peek(self) -> bool:
        with self._agenda_lock:
            return bool(self._agenda)

    def _pop(self, until: float | None) -> tuple[float, int, str, Callable[[], None]] | None:
        with self._agenda_lock:
            if not self._agenda or (until is not None and self._agenda[0][0] > until):
                return None
            return heapq.heappop(self._agenda)

    def _perform(self, due: tuple[float, int, str, Callable[[], None]]) -> None:
        moment, _, label, action = due
        if label != TICK:
            self.history.note(moment - START, f"invoke {label}")
        try:
            action()
        except Exception as exc:  # an untyped error out of idemlock, or a broken actor
            self.history.violation(moment - START, f"{label} raised {exc!r}")


class _PassengerPool(ThreadPoolExecutor):
    """The executor of a passenger's event loop: each job runs as a passenger."""

    def __init__(self, world: World) -> None:
        super().__init__(thread_name_prefix="sim-passenger")
        self._world = world

    def submit(  # type: ignore[override]  # the one signature asyncio calls it with
        self, fn: Callable[..., Any], /, *args: Any
    ) -> Future[Any]:
        world = self._world
        return super().submit(world.aboard, world.boarding(), fn, *args)


class FaultPlan:
    """Which store calls fail, and how: drawn per call from the seed, the operation and the key.

    A call's fault depends on the seed, its operation, key and virtual time, and how many such
    calls came before at that time: a heartbeat's extra beat (racing its stop) changes no other
    call's fault.

    Kinds: ``throttle`` (refused, not applied), ``lost`` (applied, then the answer lost for
    good: the caller sees an error), ``retried`` (applied, the answer lost once, the retry
    answers), ``late`` (applied, answered after another thread's call on the key lands).
    """

    def __init__(
        self,
        seed: int,
        rates: dict[str, dict[str, float]],
        ordered: dict[str, dict[str, float]] | None = None,
        *,
        nonce: str = "",
    ) -> None:
        self._seed = seed
        self._nonce = nonce
        """What makes this run's keys unique in a shared table: not part of any draw."""
        self._rates = rates
        self._ordered = rates if ordered is None else ordered
        """The rates for the keys of ordered sources (namespaces ending in ``-stream``)."""
        self._counts: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()

    def fault(self, operation: str, key: str, now_ms: int) -> str | None:
        """The fault of this call of ``operation`` on ``key`` at virtual ``now_ms``, if any."""
        with self._lock:
            n = self._counts[operation, key, now_ms] = (
                self._counts.get((operation, key, now_ms), 0) + 1
            )
        plain_key = key.replace(self._nonce, "") if self._nonce else key
        draw = random.Random(f"{self._seed}/{operation}/{plain_key}/{now_ms}/{n}").random()
        rates = self._ordered if ORDERED_MARK in key else self._rates
        for kind, rate in rates.get(operation, {}).items():
            if draw < rate:
                return kind
            draw -= rate
        return None


class ProxyFaults:
    """Faults made real by a fault-injecting TCP proxy in front of DynamoDB Local.

    A fault is armed for one call's requests, and what they did not meet is disarmed when the
    call returns (:meth:`disarm`): botocore makes fewer attempts than armed once its client's
    retry quota is spent (each retry costs it), and a fault left armed would hit the next call,
    one the history does not know faulted, or the read that checks how the run ended.
    """

    def __init__(self, proxy: Any, attempts: int) -> None:
        self._proxy = proxy
        self._attempts = attempts
        self._armed = 0
        self._met_before = 0

    def arm(self, kind: str) -> None:
        """Make the next request fail as ``kind`` says (botocore's retries included)."""
        self._met_before = self._met()
        if kind == "throttle":
            self._armed = self._attempts
            self._proxy.fail_next_requests(self._attempts)
        elif kind == "lost":
            self._armed = self._attempts
            self._proxy.drop_next_responses(self._attempts)
        elif kind == "retried":
            self._armed = 1
            self._proxy.drop_next_responses(1)

    def disarm(self) -> int:
        """Disarm what the call's requests did not meet; how many faults that was."""
        unmet = max(0, self._armed - (self._met() - self._met_before))
        self._proxy.clear_faults()
        self._armed = 0
        return unmet

    def _met(self) -> int:
        """Requests the proxy failed or answers it dropped, so far."""
        return int(self._proxy.errors_sent + self._proxy.dropped)


class SimStore:
    """A :class:`~idemlock.LockStore` in front of a real one, injecting faults and watching.

    It notes in the history what the store really applied (claims, extends, completes) and
    catches, as it happens, a lease moving backwards or an extension after its call returned.
    """

    def __init__(
        self,
        inner: LockStore,
        world: World,
        faults: FaultPlan,
        proxy: ProxyFaults | None = None,
    ) -> None:
        self.inner = inner
        self._world = world
        self._faults = faults
        self._proxy = proxy
        self._lock = threading.Lock()
        self._leases: dict[str, int] = {}
        self._returned: set[str] = set()
        self._landed = threading.Condition()
        self._landings: dict[str, tuple[int, int]] = {}
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._ledger = world.history.ledger
        self._claimed: set[str] = set()
        world.quiet = self.quiet

    def __getattr__(self, name: str) -> Any:
        # The store's limits (max_result_bytes, stored_result_bytes) are the inner store's.
        return getattr(self.inner, name)

    def call_returned(self, owner: str) -> None:
        """The invocation that held ``owner``'s claim has returned: its heartbeat must be over."""
        with self._lock:
            self._returned.add(owner)

    def claim(self, claim: Claim) -> ClaimResult:
        """Claim, and note the claim taken."""

        def call() -> ClaimResult:
            answer = self.inner.claim(claim)
            # A claim retried after its lost answer finds its own item: it landed before.
            ours = answer.item is not None and answer.item.owner == claim.owner
            if answer.acquired or (ours and claim.owner not in self._claimed):
                self._claimed.add(claim.owner)
                self._ledger.wrote(
                    "claim",
                    claim.key,
                    claim.owner,
                    lease_ms=claim.lease_expires_at_ms,
                    at_ms=claim.now_ms,
                )
            return answer

        result: ClaimResult = self._call(
            "claim", claim.key, call, owner=claim.owner, at_ms=claim.now_ms
        )
        if result.acquired:
            with self._lock:
                self._leases[claim.owner] = claim.lease_expires_at_ms
        return result

    def extend(
        self, key: str, owner: str, *, lease_expires_at_ms: int, expires_at_s: int
    ) -> int | None:
        """Extend, and check that the lease moved forward (the lease held, or ``None``)."""

        def call() -> int | None:
            held = self.inner.extend(
                key, owner, lease_expires_at_ms=lease_expires_at_ms, expires_at_s=expires_at_s
            )
            if held == lease_expires_at_ms:  # applied; a later lease held already is not
                self._extended(key, owner, lease_expires_at_ms)
                self._ledger.wrote("extend", key, owner, lease_ms=lease_expires_at_ms)
            return held

        held: int | None = self._call("extend", key, call, owner=owner, at_ms=lease_expires_at_ms)
        return held

    def complete(
        self, key: str, owner: str, *, now_ms: int, result: str | None, expires_at_s: int | None
    ) -> bool:
        """Complete, and note when the key completed."""

        def call() -> bool:
            done = self.inner.complete(
                key, owner, now_ms=now_ms, result=result, expires_at_s=expires_at_s
            )
            if done:
                self._completed(key, owner, "complete", result)
            return done

        return bool(self._call("complete", key, call, owner=owner, at_ms=now_ms, text=result))

    def resolve(
        self,
        key: str,
        owner: str,
        *,
        operator: str,
        now_ms: int,
        result: str | None,
        expires_at_s: int | None,
    ) -> bool:
        """An operator's complete of ``owner``'s claim, in the operator's name."""

        def call() -> bool:
            done = self.inner.resolve(
                key,
                owner,
                operator=operator,
                now_ms=now_ms,
                result=result,
                expires_at_s=expires_at_s,
            )
            if done:
                self._completed(key, owner, "resolve", result)
            return done

        # Faulted as a complete is: the same write, with the operator's owner.
        return bool(self._call("complete", key, call, owner=owner, at_ms=now_ms, text=result))

    def _completed(self, key: str, owner: str, kind: str, result: str | None) -> None:
        self._world.history.complete(key, self._world.now())
        self._leases.pop(owner, None)
        self._ledger.wrote(kind, key, owner, text=result)

    def release(self, key: str, owner: str) -> bool:
        """Release."""
        return bool(self._call("release", key, self._noted("release", key, owner), owner=owner))

    def free(self, key: str, owner: str, *, now_ms: int) -> bool:
        """Free after a failure, keeping the steps."""
        call = self._noted("free", key, owner, now_ms=now_ms)
        return bool(self._call("free", key, call, owner=owner, at_ms=now_ms))

    def mark_unknown(self, key: str, owner: str, *, now_ms: int) -> bool:
        """Mark a lapsed claim an unknown outcome (``on_lease_expired="refuse"``)."""
        call = self._noted("mark_unknown", key, owner, now_ms=now_ms)
        return bool(self._call("mark_unknown", key, call, owner="", at_ms=now_ms))

    def record_steps(
        self, key: str, owner: str, *, fence: int, steps: tuple[tuple[str, str], ...]
    ) -> bool:
        """Record a body's steps on its claim."""

        text = json.dumps(dict(steps))

        def call() -> bool:
            done = self.inner.record_steps(key, owner, fence=fence, steps=steps)
            if done:
                self._ledger.wrote("steps", key, owner, text=text)
            return done

        return bool(self._call("record_steps", key, call, owner=owner, text=text))

    def _noted(self, kind: str, key: str, owner: str, **details: int) -> Callable[[], bool]:
        """The store call ``kind`` (release, free, mark_unknown), noted when applied."""

        def call() -> bool:
            done: bool = getattr(self.inner, kind)(key, owner, **details)
            if done:
                self._ledger.wrote(kind, key, owner)
            return done

        return call

    # Batch writes (idemlock.store.BatchWrites), so that batches take their batched path here
    # too: each statement is the single call above, with its own fault, and one that fails
    # answers with its error while the others of the request stand, as DynamoDB's do.
    batch_limit = 25
    writes_in_batches = True

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | StoreError]:
        """Claim each, a fault per statement."""
        return [_answered(self.claim, claim) for claim in claims]

    def complete_many(self, completes: Sequence[CompleteRequest]) -> list[bool | StoreError]:
        """Complete each, a fault per statement."""
        return [_answered(lambda c: c.sent_to(self), complete) for complete in completes]

    def release_many(self, releases: Sequence[ReleaseRequest]) -> list[bool | StoreError]:
        """Release each, a fault per statement."""
        return [_answered(lambda r: self.release(r.key, r.owner), r) for r in releases]

    def get(self, key: str) -> LockItem | None:
        """Read: a refused claim's fallback, a waiter's poll (faulted as ``get``)."""
        item: LockItem | None = self._call("get", key, lambda: self.inner.get(key), owner="")
        return item

    def delete(self, key: str, *, expected: LockItem | None = None) -> bool:
        """Delete, for an operator (``idemlock release``)."""

        def call() -> bool:
            done = self.inner.delete(key, expected=expected)
            if done:
                self._ledger.wrote("delete", key, "" if expected is None else expected.owner)
            return done

        return bool(self._call("delete", key, call, owner=""))

    def scan(
        self, *, prefix: str | None = None, page_size: int | None = None
    ) -> Iterator[LockItem]:
        """Scan, whole, under the lock: its requests never meet another call's armed fault."""
        with self._lock:
            return iter(list(self.inner.scan(prefix=prefix, page_size=page_size)))

    def _extended(self, key: str, owner: str, lease_ms: int) -> None:
        """Called under the lock, after the store applied an extension."""
        now = self._world.now()
        before = self._leases.get(owner)
        if before is not None and lease_ms < before:
            self._world.history.violation(
                now, f"the lease of {key} moved backwards from {before} to {lease_ms} ms"
            )
        if owner in self._returned:
            self._world.history.violation(now, f"{key} extended after its call returned")
        self._leases[owner] = lease_ms

    def _call(
        self,
        operation: str,
        key: str,
        call: Callable[[], Any],
        *,
        owner: str,
        at_ms: int | None = None,
        text: str | None = None,
    ) -> Any:
        """``call`` with its fault. ``at_ms``: the time the call carries, which its fault is
        drawn from (rather than when it lands: a pool thread's call lands when it lands).

        Behind the proxy, a write whose answer was lost (every attempt's, or the first's and
        then the retry's failed) may have landed unseen: the ledger notes it as
        ``lost <operation>`` (with ``text``, a result or steps it carried).
        """
        if owner in self._world.dead:
            raise StoreError(f"{operation} never sent: its worker died", operation=operation)
        moment = int(self._world.clock() * 1000) if at_ms is None else at_ms
        fault = self._faults.fault(operation, key, moment)
        with self._in_flight_lock:
            self._in_flight += 1
        self._world.in_store.on = True
        try:
            return self._faulty(operation, key, call, fault)
        except StoreError:
            if self._proxy is not None and fault in ("lost", "retried"):
                self._ledger.wrote(f"lost {operation}", key, owner, text=text)
            raise
        finally:
            self._world.in_store.on = False
            with self._in_flight_lock:
                self._in_flight -= 1

    def quiet(self) -> bool:
        """Whether no call is in flight (the world waits for this before each step)."""
        with self._in_flight_lock:
            return self._in_flight == 0

    def _faulty(self, operation: str, key: str, call: Callable[[], Any], fault: str | None) -> Any:
        with self._lock:
            if fault is not None:
                self._world.history.note(self._world.now(), f"fault {fault} on {operation} {key}")
            if fault == "throttle" and self._proxy is None:
                raise StoreError(f"injected throttle on {operation}", operation=operation, key=key)
            if self._proxy is not None and fault is not None:
                answer = self._proxied(self._proxy, fault, f"{operation} {key}", call)
            else:
                answer = call()
            if fault == "retried" and self._proxy is None:
                answer = call()  # botocore's retry of a call whose answer was lost
            landing = self._land(key)
        if fault == "lost" and self._proxy is None:
            raise StoreError(f"injected lost answer on {operation}", operation=operation, key=key)
        if fault == "late" and getattr(self._world.manual, "on", False):
            self._answer_late(key, landing)
        return answer

    def _proxied(self, proxy: ProxyFaults, fault: str, what: str, call: Callable[[], Any]) -> Any:
        """``call`` (``what``: its operation and key) with ``fault`` armed in ``proxy`` for its
        requests alone (under the lock)."""
        proxy.arm(fault)
        try:
            return call()
        finally:
            unmet = proxy.disarm()
            if unmet:
                self._world.history.note(
                    self._world.now(), f"fault {fault} on {what}: {unmet} not met"
                )

    def settled(self, key: str) -> LockItem | None:
        """``key``'s item, read after the run: not the workload's call, so it meets no fault
        (under the lock no call has one armed, and none is left armed in the proxy)."""
        with self._lock:
            if self._proxy is not None:
                self._proxy.disarm()
            return self.inner.get(key)

    def _land(self, key: str) -> int:
        """Count a call landing on ``key`` from this thread; the count so far."""
        with self._landed:
            count, _ = self._landings.get(key, (0, 0))
            self._landings[key] = (count + 1, threading.get_ident())
            self._landed.notify_all()
            return count + 1

    def _answer_late(self, key: str, landing: int) -> None:
        """Hold the answer until another thread's call on ``key`` lands (bounded, real time).

        The answer's delay takes :data:`LATE_S` of virtual time: the body that asked is the one
        moving the clock now (the bodies around it sleep until it ends).
        """
        self._world.clock.advance_to(self._world.clock() + LATE_S)
        me = threading.get_ident()
        deadline = time.monotonic() + BEAT_WAIT_S
        with self._landed:
            while time.monotonic() < deadline:
                count, thread = self._landings[key]
                if count > landing and thread != me:
                    return
                self._landed.wait(0.005)
