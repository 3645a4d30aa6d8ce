"""The workers of the simulation: they invoke the bodies as Lambda would.

A :class:`Caller` invokes one ``@idempotent`` function (sync or ``async``) and retries a failed
call as Lambda's asynchronous invocations do; a :class:`Queue` delivers SQS standard batches and
redelivers what the partial batch response names, also while a batch is still running (its
visibility timeout ran out); a :class:`Shard` consumes an ordered source (a DynamoDB stream or
Kinesis shard, an SQS FIFO group) one batch at a time, resuming from the first record the
response names, as Lambda does. The events are built by ``tests/batch_events.py``, in the shapes
of AWS's documented sample events.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from idemlock import idempotent, idempotent_records
from idemlock.errors import IdemlockError
from idemlock.keys import storage_key
from tests.batch_events import kinesis_event, number, sqs_event, stream_event
from tests.simulation.bodies import Bodies, Invocation, Job, JobFailed, Spec
from tests.simulation.history import Report
from tests.simulation.world import SimStore, World

RETRIES = 2
"""Redeliveries of a failed call or record, as Lambda's asynchronous retries (two)."""


def _fifo_event(count: int) -> dict[str, Any]:
    return sqs_event(count, fifo=True)


def _stream_id(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _kinesis_id(record: dict[str, Any]) -> str:
    return str(record["kinesis"]["sequenceNumber"])


def _message_id(record: dict[str, Any]) -> str:
    return str(record["messageId"])


ORDERED_SOURCES: dict[
    str, tuple[Callable[[int], dict[str, Any]], Callable[[dict[str, Any]], str]]
] = {
    "stream": (stream_event, _stream_id),
    "kinesis": (kinesis_event, _kinesis_id),
    "fifo": (_fifo_event, _message_id),
}
"""Per ordered source: the batch event builder, and a record's partial batch response id."""


@dataclass
class Stage:
    """What every actor of a run shares: the world, the store and the bodies."""

    world: World
    store: SimStore
    bodies: Bodies


class Caller:
    """Invokes one ``@idempotent`` function; a failed call is retried later."""

    def __init__(self, stage: Stage, spec: Spec, namespace: str) -> None:
        world, store, bodies = stage.world, stage.store, stage.bodies
        self._world = world
        self._store = store
        self._spec = spec
        self._rng_seed = namespace
        options = spec.options(world, store, namespace)
        self.namespace: str = options["namespace"]

        def key(job: Job, invocation: Invocation, actor: str) -> str:
            return job.key

        if spec.is_async:

            @idempotent(key, **options)
            async def work_async(job: Job, invocation: Invocation, actor: str) -> object:
                return await bodies.run_async(job, spec, invocation, actor)

            self._call: Callable[[Job, Invocation, str], object] = lambda job, invocation, actor: (
                _run(world, work_async(job, invocation, actor))
            )
        else:

            @idempotent(key, **options)
            def work(job: Job, invocation: Invocation, actor: str) -> object:
                return bodies.run(job, spec, invocation, actor)

            self._call = work

    def key(self, job: Job) -> str:
        """The stored key of ``job``."""
        return storage_key(self.namespace, job.key)

    def invoke_beside(self, job: Job, label: str) -> None:
        """One invocation of ``job`` on a thread of its own (a waiter: see :meth:`World.spawn`)."""
        self._world.spawn(label, lambda: self.invoke(job, label))

    def invoke(self, job: Job, label: str, attempt: int = 0) -> None:
        """One invocation of ``job``; retried after a failure, at most :data:`RETRIES` times."""
        world = self._world
        invocation = Invocation(f"{label}.{attempt}")
        try:
            value = self._call(job, invocation, invocation.label)
            own = job.number in invocation.ran
            world.history.ledger.returned(invocation.label, self.key(job), value, own=own)
            world.history.note(world.now(), f"{invocation.label} returned {value!r}")
        except (JobFailed, IdemlockError) as exc:
            world.history.note(world.now(), f"{invocation.label} failed: {exc!r}")
            if attempt < RETRIES:
                delay = random.Random(f"{self._rng_seed}/{label}/{attempt}").uniform(0.5, 3)
                world.at(
                    world.now() + delay,
                    invocation.label,
                    lambda: self.invoke(job, label, attempt + 1),
                )
        finally:
            for owner in invocation.owners:
                self._store.call_returned(owner)


def _run(world: World, call: Coroutine[Any, Any, object]) -> object:
    """Run an ``async`` call to its end, on a thread of its own when a loop runs on this one
    (the call is nested in the body of an ``async`` function blocking its loop); a passenger's
    with an executor of passengers (:meth:`World.run_loop`)."""
    if world.passenger():
        return world.run_loop(call)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call)
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, call).result()


class _Batches:
    """What the batch workers share: one handler over jobs numbered as their records."""

    def __init__(self, stage: Stage, spec: Spec, namespace: str, jobs: list[Job]) -> None:
        world, store, bodies = stage.world, stage.store, stage.bodies
        self._world = world
        self._store = store
        self._jobs = jobs
        options = spec.options(world, store, namespace)
        if spec.is_async:

            async def handle_async(record: dict[str, Any], invocation: Invocation) -> object:
                job = jobs[number(record)]
                actor = f"{invocation.label}/r{job.number}"
                return await bodies.run_async(job, spec, invocation, actor)

            self._handler = idempotent_records(**options)(handle_async)
        else:

            def handle(record: dict[str, Any], invocation: Invocation) -> object:
                job = jobs[number(record)]
                return bodies.run(job, spec, invocation, f"{invocation.label}/r{job.number}")

            self._handler = idempotent_records(**options)(handle)

    def deliver(self, records: list[dict[str, Any]], label: str) -> list[str]:
        """Run one batch; the item identifiers of its partial batch response."""
        world = self._world
        invocation = Invocation(label)
        try:
            outcome = self._handler.process({"Records": records}, invocation)
        finally:
            for owner in invocation.owners:
                self._store.call_returned(owner)
        for record in outcome.records:
            status = str(record.status.value)
            n = number(dict(record.record))
            world.history.report(
                Report(label, record.index, record.key, status, n in invocation.ran)
            )
            world.history.note(world.now(), f"{label} record {n}: {status}")
            if status == "duplicate" and record.key is not None and record.error is None:
                world.history.ledger.returned(label, record.key, record.result, own=False)
        failures = outcome.response()["batchItemFailures"]
        return [str(failure["itemIdentifier"]) for failure in failures]


class Queue(_Batches):
    """An SQS standard queue: batches, their redeliveries, duplicates while they run."""

    def __init__(
        self, stage: Stage, spec: Spec, namespace: str, jobs: list[Job], *, visibility_s: float
    ) -> None:
        super().__init__(stage, spec, namespace, jobs)
        self._records = sqs_event(len(jobs))["Records"]
        self._visibility_s = visibility_s

    def deliver_all(self, label: str, *, redeliver: bool = True) -> None:
        """Deliver every message as one batch (a duplicate delivery: ``redeliver=False``)."""
        self._deliver([r["messageId"] for r in self._records], label, 0 if redeliver else RETRIES)

    def _deliver(self, ids: list[str], label: str, attempt: int) -> None:
        records = [r for r in self._records if r["messageId"] in ids]
        failed = self.deliver(records, f"{label}.{attempt}")
        if failed and attempt < RETRIES:
            self._world.at(
                self._world.now() + self._visibility_s,
                f"{label}.{attempt + 1}",
                lambda: self._deliver(failed, label, attempt + 1),
            )


class Shard(_Batches):
    """An ordered source read by one Lambda poller: one batch at a time, in order.

    A DynamoDB stream or Kinesis shard, or an SQS FIFO message group: after a partial batch
    response, Lambda resumes from the first record it names (the checkpoint, or the first of
    the failed and later messages).
    """

    def __init__(
        self,
        stage: Stage,
        spec: Spec,
        namespace: str,
        jobs: list[Job],
        *,
        source: str,
        batch_size: int,
        duplicate_rate: float,
        seed: int,
    ) -> None:
        super().__init__(stage, spec, namespace, jobs)
        build, identify = ORDERED_SOURCES[source]
        self._records: list[dict[str, Any]] = build(len(jobs))["Records"]
        self._ids = [identify(record) for record in self._records]
        self._batch_size = batch_size
        self._duplicate_rate = duplicate_rate
        self._rng = random.Random(f"{seed}/{namespace}")

    def poll(self, start: int, label: str, deliveries: int = 0) -> None:
        """Deliver the batch starting at record ``start``; then the next one, as Lambda does."""
        batch = self._records[start : start + self._batch_size]
        failed = self.deliver(batch, f"{label}.{deliveries}")
        if failed:  # Lambda resumes from the first record the response names
            following = self._ids.index(failed[0])
        elif self._rng.random() < self._duplicate_rate:
            following = start  # delivered again, at least once
        else:
            following = start + len(batch)
        if following < len(self._records) and deliveries < 4 * len(self._records):
            self._world.at(
                self._world.now() + 1.0,
                f"{label}.{deliveries + 1}",
                lambda: self.poll(following, label, deliveries + 1),
            )
