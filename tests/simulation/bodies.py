"""The bodies the simulation runs, and the ``on_event`` sinks beside them.

A :class:`Job` is the work one call or record stands for; :class:`Bodies` runs it under its lock
(sleeping in virtual time, maybe in ``idemlock.step`` recovery points, calling
``current_lock().extend()``, failing or dying as the job says) and writes its run into the
history; a :class:`Sink` notes every event and may raise or be slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import idemlock
from idemlock import Lock, current_lock
from idemlock._leases import renew_after_ms
from idemlock.errors import LockLostError, StoreError, UnstorableResultError
from idemlock.events import LockEvent
from tests.simulation.history import INFINITE, Body
from tests.simulation.ledger import REFUSE_MARK, StepRun
from tests.simulation.world import BEAT_WAIT_S, HEARTBEAT_S, SimStore, World

BLOCKED_LOOP_PATIENCE_S = 0.05
"""Real seconds a step waits for the heartbeat of an ``async`` body blocking its loop: ample for
a heartbeat on a thread of its own (it beats every 2 ms), little for one that cannot beat."""


class JobFailed(Exception):
    """A body's own failure (the work raised)."""


class Killed(JobFailed):
    """The worker died mid-body: from then on none of its calls reaches the store."""


@dataclass
class Job:
    """The work one call or record stands for: how long its body takes, and what it does."""

    number: int
    key: str
    duration: float
    fails: bool = False
    killed: bool = False
    """The worker dies halfway through the body (single calls only)."""
    extend_at: float | None = None
    """When the body calls ``current_lock().extend(extend_s)``, as a share of its duration."""
    extend_s: float = 0.0
    shard: str | None = None
    """The ordered shard whose change the body applies (its sequence number: ``number``)."""
    steps: int = 0
    """Recovery points (``idemlock.step``): the body's work in that many steps, then a rest."""
    fail_after: int | None = None
    """With steps, a failing body raises after this many of them (else at its end)."""
    fail_runs: int = 1_000
    """How many runs of the job fail (``fails``); the later ones succeed."""
    unstorable_step: int | None = None
    """The step whose work returns what cannot be stored (it ran: it must never run again)."""
    runs: int = 0
    """How many times its body started so far."""


@dataclass
class Spec:
    """The options of one decorated function or batch handler."""

    lease: float
    heartbeat: bool
    sink: str = "record"
    """``record`` (note each event), ``raising`` (raise on each) or ``slow`` (take 1.5 leases on
    each ``extended`` event)."""
    is_async: bool = False
    blocks_loop: bool = False
    """An ``async`` body that sleeps on its event loop's thread (``time.sleep``), as some do."""
    local_cache: int = 0
    wait: float | None = None
    """``wait=``: a duplicate waits this long for the first call's result."""
    refuse: bool = False
    """``on_lease_expired="refuse"`` (its namespace ends in :data:`REFUSE_MARK`)."""

    def options(self, world: World, store: SimStore, namespace: str) -> dict[str, Any]:
        """The keyword options of idemlock's decorators for this spec."""
        options: dict[str, Any] = {
            "store": store,
            "namespace": namespace + (REFUSE_MARK if self.refuse else ""),
            "lease": self.lease,
            "heartbeat": HEARTBEAT_S if self.heartbeat else False,
            "clock": world.clock,
            "on_event": Sink(world, self),
            "local_cache": self.local_cache,
        }
        if self.wait is not None:
            options["wait"] = self.wait
        if self.refuse:
            options["on_lease_expired"] = "refuse"
        return options


@dataclass
class Invocation:
    """One invocation (also the ``context`` a batch handler passes to each record)."""

    label: str
    owners: list[str] = field(default_factory=list)
    ran: set[int] = field(default_factory=set)


class Sink:
    """An ``on_event`` sink that notes every event, and may raise or be slow."""

    def __init__(self, world: World, spec: Spec) -> None:
        self._world = world
        self._spec = spec

    def __call__(self, event: LockEvent) -> None:
        world = self._world
        world.history.note(world.now(), f"event {event.kind} {event.key} fence={event.fence}")
        if self._spec.sink == "raising":
            raise RuntimeError("the metrics backend is down")
        if self._spec.sink == "slow" and event.kind == "extended" and event.fence is not None:
            self._take_time(event.key, event.fence, 1.5 * self._spec.lease)

    def _take_time(self, key: str, fence: int, seconds: float) -> None:
        world = self._world
        if world.driving() or world.passenger():
            world.sleep(seconds)  # time passes in the sink (a passenger waits for it)
            return
        # Another thread: wait for the time. Only if it is the heartbeat's own does the sink hold
        # the beats of this claim (the steps then stop waiting for them to land).
        holds_beats = threading.current_thread().name == "idemlock-heartbeat"
        with world.blocked(key, fence) if holds_beats else contextlib.nullcontext():
            world.clock.wait_until(
                world.clock() + seconds,
                give_up=lambda: not world.is_running(key, fence),
                timeout_s=2.0,
            )


class Bodies:
    """Runs a job's body under its lock, noting it in the history."""

    def __init__(self, world: World) -> None:
        self._world = world

    def run(self, job: Job, spec: Spec, invocation: Invocation, actor: str) -> object:
        """The body of a sync function or record handler."""
        lock, body = self._begin(job, spec, invocation, actor)
        values: list[Any] = []
        try:
            for phase in _phases(job):
                if phase.step is None:
                    self._world.sleep(phase.seconds)
                else:
                    values.append(self._step(lock, body, phase))
                if phase.extend:
                    self.extend(lock, body, job.extend_s)
                self._maybe_die(job, lock, body)
                self._maybe_fail(job, body, len(values))
            return self._finish(job, body, values)
        finally:
            self._world.body_ended(lock)

    async def run_async(self, job: Job, spec: Spec, invocation: Invocation, actor: str) -> object:
        """The body of an ``async`` function or record handler: it sleeps off the loop."""
        lock, body = self._begin(job, spec, invocation, actor)
        values: list[Any] = []
        try:
            for phase in _phases(job):
                if phase.step is not None:
                    values.append(await self._step_async(lock, body, phase, spec))
                elif spec.blocks_loop:
                    self._world.sleep(phase.seconds)  # the loop stands still meanwhile
                else:
                    await asyncio.to_thread(self._world.sleep, phase.seconds)
                if phase.extend:
                    await asyncio.to_thread(self.extend, lock, body, job.extend_s)
                self._maybe_die(job, lock, body)
                self._maybe_fail(job, body, len(values))
            return self._finish(job, body, values)
        finally:
            self._world.body_ended(lock)

    def _step(self, lock: Lock, body: Body, phase: Phase) -> Any:
        """``idemlock.step(name, work)``: the work takes the phase's time."""
        ran: list[bool] = []
        with self._step_errors(body):
            value = idemlock.step(phase.step or "", self._work(lock, body, phase, ran))
        return self._step_value(lock, body, phase.step or "", value, ran)

    async def _step_async(self, lock: Lock, body: Body, phase: Phase, spec: Spec) -> Any:
        """``await idemlock.step_async(name, work)``, ``work`` an ``async def`` (a plain
        function in a body that blocks its loop)."""
        ran: list[bool] = []
        work = self._work(lock, body, phase, ran)

        async def work_async() -> dict[str, Any]:
            return await asyncio.to_thread(work)

        with self._step_errors(body):
            value = await idemlock.step_async(
                phase.step or "", work if spec.blocks_loop else work_async
            )
        return self._step_value(lock, body, phase.step or "", value, ran)

    def _work(
        self, lock: Lock, body: Body, phase: Phase, ran: list[bool]
    ) -> Callable[[], dict[str, Any]]:
        """A step's function: it takes the phase's time, then notes its run in ``ran``."""

        def work() -> dict[str, Any]:
            began = self._world.history.ledger.tick()
            self._world.sleep(phase.seconds)
            value = self._step_ran(lock, body, phase.step or "", began, ran)
            return {**value, "handle": object()} if phase.unstorable else value

        return work

    def _step_ran(
        self, lock: Lock, body: Body, name: str, began: int, ran: list[bool]
    ) -> dict[str, Any]:
        ledger = self._world.history.ledger
        value = {"step": name, "body": body.number}
        ended = ledger.tick()
        ledger.step_ran(StepRun(lock.key, name, body.number, lock.owner, began, ended, value))
        self._world.history.note(self._world.now(), f"body#{body.number} ran step {name}")
        ran.append(True)
        return value

    def _step_value(self, lock: Lock, body: Body, name: str, value: Any, ran: list[bool]) -> Any:
        if not ran:
            self._world.history.ledger.step_replayed(lock.key, name, body.number, value)
            self._world.history.note(self._world.now(), f"body#{body.number} replayed {name}")
        return value

    @contextlib.contextmanager
    def _step_errors(self, body: Body) -> Iterator[None]:
        """A step whose record was refused (taken over) or failed ends the body."""
        try:
            yield
        except LockLostError:
            self._world.history.end_body(body, self._world.now(), "stopped: lock lost on a step")
            raise
        except StoreError:
            self._world.history.end_body(body, self._world.now(), "raised: a step's record failed")
            raise
        except UnstorableResultError:  # ran now (recorded without it), or replayed so
            self._world.history.end_body(body, self._world.now(), "raised: a step's result")
            raise

    def extend(self, lock: Lock, body: Body, seconds: float) -> None:
        """``current_lock().extend(seconds)``: a lost lock stops the body; a store error not."""
        world = self._world
        asked = world.now()
        world.manual.on = True
        try:
            lock.extend(seconds)
        except StoreError as exc:
            world.history.note(world.now(), f"body#{body.number} extend failed: {exc!r}")
            return
        except LockLostError:
            world.history.end_body(body, world.now(), "stopped: lock lost on extend")
            raise
        finally:
            world.manual.on = False
        if body.promised_until != INFINITE:
            body.promised_until = max(body.promised_until, asked + seconds)
        world.history.note(world.now(), f"body#{body.number} extended by {seconds} s")

    def _begin(self, job: Job, spec: Spec, invocation: Invocation, actor: str) -> tuple[Lock, Body]:
        lock = current_lock()
        assert lock is not None, f"{actor}: a protected body without a lock"
        world = self._world
        job.runs += 1
        # The lease is counted from the claim's time: a body whose claim answered sooner than
        # the renewal threshold starts without a renewal, owed its lease less that much.
        owed = INFINITE if spec.heartbeat else spec.lease - _renew_after_s(spec.lease)
        body = world.history.start_body(
            actor, lock.key, owner=lock.owner, fence=lock.fence, moment=world.now(), owed_s=owed
        )
        world.body_running(
            lock,
            round(spec.lease * 1000),
            heartbeat=spec.heartbeat,
            patience_s=BLOCKED_LOOP_PATIENCE_S if spec.blocks_loop else BEAT_WAIT_S,
        )
        invocation.owners.append(lock.owner)
        invocation.ran.add(job.number)
        return lock, body

    def _maybe_die(self, job: Job, lock: Lock, body: Body) -> None:
        """A killed worker dies after the first part of its body."""
        if job.killed and body.outcome == "running":
            self._world.kill(lock.owner)
            self._world.history.end_body(body, self._world.now(), "killed")
            raise Killed(f"worker of job {job.number} killed")

    def _maybe_fail(self, job: Job, body: Body, steps_done: int) -> None:
        """A failing job with steps raises after its ``fail_after`` steps."""
        if job.fail_after == steps_done and job.steps and body.outcome == "running":
            self._fail(job, body)

    def _fail(self, job: Job, body: Body) -> None:
        if job.fails and job.runs <= job.fail_runs:
            self._world.history.end_body(body, self._world.now(), "raised")
            raise JobFailed(f"job {job.number} failed")

    def _finish(self, job: Job, body: Body, steps: list[Any]) -> object:
        world = self._world
        if body.outcome != "running":
            return None
        self._fail(job, body)
        if job.shard is not None:
            world.history.apply(job.shard, job.number, world.now(), body)
        world.history.end_body(body, world.now(), "returned")
        return {"n": job.number, "body": body.number, "steps": steps}


@dataclass(frozen=True)
class Phase:
    """A part of a body: a sleep (the work of step ``step``, if any), then maybe ``extend()``."""

    seconds: float
    extend: bool = False
    step: str | None = None
    unstorable: bool = False
    """The step's work returns a value with no stored form."""


def _phases(job: Job) -> list[Phase]:
    """The body's parts, each followed by its ``extend()`` call or not (or a kill)."""
    if job.steps:
        part = job.duration / (job.steps + 1)
        phases = [
            Phase(part, step=f"s{n}", unstorable=n == job.unstorable_step) for n in range(job.steps)
        ] + [Phase(part)]
        if job.extend_at is not None:
            phases[0] = Phase(part, extend=True, step="s0", unstorable=job.unstorable_step == 0)
        return phases
    if job.extend_at is None:
        if job.killed:
            return [Phase(job.duration / 2), Phase(job.duration / 2)]
        return [Phase(job.duration)]
    first = job.duration * job.extend_at
    return [Phase(first, extend=True), Phase(job.duration - first)]


def _renew_after_s(lease_s: float) -> float:
    """How much of its lease a body may start without (idemlock renews a claim older)."""
    return renew_after_ms(round(lease_s * 1000)) / 1000
