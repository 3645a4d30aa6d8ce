"""Workloads: what a seed makes the actors do, within what a :class:`Profile` allows.

A profile names the features and faults it combines. ``seams`` combines every feature where the
library keeps its promise today; each ``item*`` profile leans on one seam that issue 23 found
broken (the seed still chooses the numbers), ``recovery`` leans on issue 28 (waiters, steps,
refuse and the operator), and ``everything`` combines them all: it is what
``IDEMLOCK_SIM_SEEDS`` runs by the thousand once every item is fixed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from functools import partial

from tests.simulation.actors import Caller, Queue, Shard, Stage
from tests.simulation.bodies import Bodies, Job, Spec
from tests.simulation.operators import Operator
from tests.simulation.world import SimStore, World

SAFE_FAULTS = {
    "claim": {"throttle": 0.05, "lost": 0.03, "retried": 0.05},
    "extend": {"throttle": 0.05, "lost": 0.03, "retried": 0.05},
    "complete": {"throttle": 0.1, "lost": 0.03, "retried": 0.05},
    "release": {"throttle": 0.05, "lost": 0.03, "retried": 0.05},
}
"""Throttling, lost and retried answers on every store call."""

RECOVERY_FAULTS = {
    **SAFE_FAULTS,
    "record_steps": {"throttle": 0.05, "lost": 0.03, "retried": 0.05},
    "free": {"throttle": 0.05, "lost": 0.03, "retried": 0.05},
    "mark_unknown": {"throttle": 0.05, "lost": 0.03, "retried": 0.05},
    "get": {"throttle": 0.01, "lost": 0.01},
}
"""And on the store calls of issue 28: a step's record, a failure's free, an unknown's mark, a
waiter's read."""

OPERATOR_EVERY_S = 3.0
"""How often the operator looks for unknown outcomes (``idemlock ls --unknown``)."""

OPERATOR_UNTIL_S = 45.0

EXTEND_MAX_S = 60.0
"""The longest ``extend()`` a body asks for."""

ORDERED_SAFE_FAULTS = {op: rates for op, rates in SAFE_FAULTS.items() if op != "complete"}
"""Every fault but on an ordered record's complete: that is issue 23 item 7."""


@dataclass(frozen=True)
class Profile:
    """Which features and faults a workload may combine."""

    name: str
    calls: int = 4
    """Single invocations (each with its duplicates and retries)."""
    async_share: float = 0.4
    blocking_async: float = 0.0
    """The share of ``async`` functions whose body blocks its loop (issue 23 item 2)."""
    queues: int = 1
    shards: int = 1
    leases: tuple[float, ...] = (1.0, 2.0, 4.0)
    call_heartbeat: float = 0.5
    """The share of functions with a heartbeat."""
    batch_heartbeat: float = 1.0
    """The share of batch handlers with a heartbeat (without one, issue 23 item 1)."""
    batch_body_share: tuple[float, float] = (0.1, 0.6)
    """A batch body's duration, as a share of its lease."""
    extends: float = 0.3
    """The share of calls whose body calls ``extend()``."""
    extend_beside_heartbeat: bool = False
    """Manual extends in bodies with a heartbeat (issue 23 item 4, with late answers)."""
    sinks: tuple[str, ...] = ("record", "raising")
    faults: dict[str, dict[str, float]] = field(default_factory=lambda: SAFE_FAULTS)
    ordered_faults: dict[str, dict[str, float]] = field(default_factory=lambda: ORDERED_SAFE_FAULTS)
    failures: float = 0.15
    """The share of bodies that raise."""
    kills: float = 0.05
    """The share of single calls whose worker dies mid-body."""
    local_cache: float = 0.3
    """The share of functions with a local cache of completed keys."""
    ordered_sources: tuple[str, ...] = ("stream", "kinesis", "fifo")
    duplicates: int = 2
    """Concurrent duplicate deliveries of each single invocation, at most."""
    redelivery_window: tuple[float, float] = (0.5, 1.4)
    """When an SQS batch is delivered again (its visibility timeout ran out), in leases after
    the first delivery."""
    waits: float = 0.0
    """The share of functions with ``wait=``: their duplicates wait, on threads of their own."""
    steps: float = 0.0
    """The share of bodies (calls and records) made of ``idemlock.step`` recovery points."""
    refuse: float = 0.0
    """The share of functions with ``on_lease_expired="refuse"`` (an operator settles them)."""


PROFILES = {
    profile.name: profile
    for profile in (
        Profile("seams"),
        Profile(
            "item1",  # a batch record gets only what is left of its lease
            calls=0,
            shards=0,
            async_share=0.0,
            leases=(10.0,),
            batch_heartbeat=0.0,
            batch_body_share=(0.4, 0.7),
            redelivery_window=(0.9, 1.2),
            faults={},
            failures=0.0,
            kills=0.0,
        ),
        Profile(
            "item2",  # an async body blocking its loop starves its heartbeat
            calls=2,
            queues=0,
            shards=0,
            async_share=1.0,
            blocking_async=1.0,
            leases=(1.0,),
            call_heartbeat=1.0,
            extends=0.0,
            faults={},
            failures=0.0,
            kills=0.0,
            local_cache=0.0,
        ),
        Profile(
            "item3",  # a slow on_event sink delays the next extension
            calls=3,
            queues=0,
            shards=0,
            async_share=0.0,
            leases=(1.0,),
            call_heartbeat=1.0,
            extends=0.0,
            sinks=("slow",),
            faults={},
            failures=0.0,
            kills=0.0,
        ),
        Profile(
            "item4",  # a late manual extend() and a heartbeat move the lease backwards
            calls=3,
            queues=0,
            shards=0,
            async_share=0.3,
            leases=(2.0,),
            call_heartbeat=1.0,
            extends=1.0,
            extend_beside_heartbeat=True,
            faults={"extend": {"late": 1.0}},
            failures=0.0,
            kills=0.0,
        ),
        Profile(
            "item7",  # an ordered batch re-applies an older change after a newer one
            calls=0,
            queues=0,
            shards=2,
            async_share=0.3,
            faults={},
            ordered_faults={"complete": {"throttle": 0.6}},
            failures=0.0,
            kills=0.0,
        ),
        Profile(
            "recovery",  # issue 28: waiters, steps and refuse, with batches, async, faults
            calls=6,
            waits=0.5,
            steps=0.5,
            refuse=0.4,
            faults=RECOVERY_FAULTS,
            ordered_faults={**ORDERED_SAFE_FAULTS, **RECOVERY_FAULTS, "complete": {}},
        ),
        Profile(
            "everything",
            batch_heartbeat=0.5,
            extend_beside_heartbeat=True,
            blocking_async=0.3,
            sinks=("record", "raising", "slow"),
            waits=0.3,
            steps=0.3,
            refuse=0.3,
            faults={
                **RECOVERY_FAULTS,
                "extend": {**SAFE_FAULTS["extend"], "late": 0.2},
            },
            ordered_faults={
                **ORDERED_SAFE_FAULTS,
                "extend": {**SAFE_FAULTS["extend"], "late": 0.2},
                "complete": {"throttle": 0.3, "lost": 0.05},
            },
        ),
    )
}


def schedule(seed: int, profile: Profile, world: World, store: SimStore, run: str) -> None:
    """Put the seed's workload for ``profile`` on the world's agenda."""
    rng = random.Random(f"{seed}/{profile.name}")
    stage = Stage(world, store, Bodies(world))
    keys = [f"k{n}" for n in range(max(1, profile.calls // 2))]  # few keys: they collide
    operator = Operator(world, store, f"{run}-", seed) if profile.refuse else None
    for n in range(profile.calls):
        spec = _call_spec(rng, profile)
        caller = Caller(stage, spec, f"{run}-call{n}")
        job = Job(n, rng.choice(keys), duration=spec.lease * rng.uniform(0.2, 2.5))
        job.fails = rng.random() < profile.failures
        job.killed = rng.random() < profile.kills
        if rng.random() < profile.extends and (
            profile.extend_beside_heartbeat or not spec.heartbeat
        ):
            job.extend_at = rng.uniform(0.2, 0.6)
            job.extend_s = rng.choice((spec.lease, 2 * spec.lease, EXTEND_MAX_S))
        _with_steps(rng, profile, job)
        start = rng.uniform(0, 10)
        world.at(start, f"call{n}", partial(caller.invoke, job, f"call{n}"))
        for d in range(rng.randint(0, profile.duplicates)):
            moment = start + rng.uniform(0.1, 1.5) * job.duration
            label = f"call{n}-dup{d}"
            invoke = caller.invoke_beside if spec.wait is not None else caller.invoke
            world.at(moment, label, partial(invoke, job, label))
        if operator is not None and spec.refuse:
            operator.redrive_with(caller.key(job), partial(caller.invoke, job, f"call{n}-redrive"))
    if operator is not None:
        for n in range(1, int(OPERATOR_UNTIL_S / OPERATOR_EVERY_S) + 1):
            label = f"operator{n}"
            world.at(n * OPERATOR_EVERY_S, label, partial(operator.look, label))
    for n in range(profile.queues):
        _queue(rng, profile, stage, f"{run}-queue{n}", n)
    for n in range(profile.shards):
        source = rng.choice(profile.ordered_sources)
        _shard(rng, profile, stage, f"{run}-{source}{n}-stream", n, seed=seed, source=source)


def _call_spec(rng: random.Random, profile: Profile) -> Spec:
    """A single call's function: maybe with ``wait=`` and ``on_lease_expired="refuse"``."""
    spec = _spec(rng, profile, heartbeat_share=profile.call_heartbeat)
    if profile.waits and rng.random() < profile.waits:
        spec = replace(spec, wait=spec.lease * rng.choice((0.5, 2.0, 4.0)))
    if profile.refuse and rng.random() < profile.refuse:
        spec = replace(spec, refuse=True)
    return spec


UNSTORABLE_STEPS = 0.1
"""The share of step bodies one of whose steps returns a value that cannot be stored."""


def _with_steps(rng: random.Random, profile: Profile, job: Job) -> None:
    """Maybe make ``job``'s body of steps: failing (if it fails) between two of them, and
    only on its first run or two."""
    if profile.steps and rng.random() < profile.steps:
        job.steps = rng.randint(1, 3)
        job.fail_after = rng.randint(0, job.steps)
        job.fail_runs = rng.randint(1, 2)
        # A side draw (the seed's own sequence, and so every seed's story, stays as it was):
        # one step in ten returns what cannot be stored; it ran, and must never run again.
        side = random.Random(f"{hash(rng.getstate())}/{job.key}/{job.number}")
        if side.random() < UNSTORABLE_STEPS:
            job.unstorable_step = side.randrange(job.steps)


def _spec(rng: random.Random, profile: Profile, *, heartbeat_share: float) -> Spec:
    return Spec(
        lease=rng.choice(profile.leases),
        heartbeat=rng.random() < heartbeat_share,
        sink=rng.choice(profile.sinks),
        is_async=rng.random() < profile.async_share,
        local_cache=16 if rng.random() < profile.local_cache else 0,
        blocks_loop=rng.random() < profile.blocking_async,
    )


def _batch_jobs(
    rng: random.Random, profile: Profile, spec: Spec, count: int, shard: str | None
) -> list[Job]:
    low, high = profile.batch_body_share
    jobs = [
        Job(
            n,
            key="",
            duration=spec.lease * rng.uniform(low, high),
            fails=rng.random() < profile.failures,
            shard=shard,
        )
        for n in range(count)
    ]
    for job in jobs:
        _with_steps(rng, profile, job)
    return jobs


def _queue(rng: random.Random, profile: Profile, stage: Stage, namespace: str, n: int) -> None:
    """An SQS queue: a batch, and duplicate deliveries of it while it runs (the visibility
    timeout ran out) or after."""
    spec = _spec(rng, profile, heartbeat_share=profile.batch_heartbeat)
    jobs = _batch_jobs(rng, profile, spec, rng.randint(2, 4), None)
    visibility = spec.lease * rng.uniform(0.9, 1.3)
    queue = Queue(stage, spec, namespace, jobs, visibility_s=visibility)
    world = stage.world
    start = rng.uniform(0, 5)
    world.at(start, f"queue{n}", lambda: queue.deliver_all(f"queue{n}"))
    for d in range(rng.randint(1, 3)):
        label = f"queue{n}-dup{d}"
        world.at(
            start + spec.lease * rng.uniform(*profile.redelivery_window),
            label,
            partial(queue.deliver_all, label, redeliver=False),
        )


def _shard(
    rng: random.Random,
    profile: Profile,
    stage: Stage,
    namespace: str,
    n: int,
    *,
    seed: int,
    source: str,
) -> None:
    """An ordered source (stream or Kinesis shard, FIFO group) of a few changes, polled from
    its first record."""
    spec = _spec(rng, profile, heartbeat_share=profile.batch_heartbeat)
    jobs = _batch_jobs(rng, profile, spec, rng.randint(2, 5), namespace)
    world = stage.world
    shard = Shard(
        stage,
        spec,
        namespace,
        jobs,
        source=source,
        batch_size=rng.randint(2, 5),
        duplicate_rate=0.2,
        seed=seed,
    )
    world.at(rng.uniform(0, 5), f"{source}{n}", lambda: shard.poll(0, f"{source}{n}"))
