"""Per-record idempotency for batch events, with Lambda's partial batch response.

Each record goes through the same protocol as ``@idempotent``
(:func:`idemlock._protocol.claim_steps`), but the records' protocols are interleaved: claims are
sent a bounded window ahead of the bodies (on a bounded thread pool), bodies run one at a time in
record order as their claims come back, and each complete or release is sent as its body ends,
while the next bodies run. With a store that writes many items per request
(:class:`~idemlock.store.BatchWrites`), the claims, completes and releases go 25 to a request. A
batch of N records costs a few round trips of latency (waves of claims, then the last complete),
not 2N, and a request's client CPU is shared by 25 records.

When a record fails (its body or its claim):

- DynamoDB Streams, Kinesis: stop; the records after it do not run (the claims taken ahead are
  released; the records past the window are not claimed); report the failed record's sequence
  number: Lambda retries from there.
- SQS FIFO: stop; report the failed message and every later one.
- SQS standard: run everything; report each failed message.
- S3 (no partial batch response): run everything, then raise :class:`BatchFailedError` listing
  the failed objects, so Lambda retries the event; completed objects are skipped on the retry.

A record whose body ran has run, whatever happens to its complete: a complete that fails is
``RAN_NOT_RECORDED`` (reported as processed, sent again after the batch, and kept to be sent
before this process next claims the key), never a retry, which in an ordered source would apply
it again after the records behind it. So no body, ordered or not, waits for the completes
before it, and the batch waits only for the last of them.

A redelivered batch runs only what did not complete: the rest replays its stored results.

Every failed record is logged on the ``idemlock`` logger (WARNING, with its key, its id and the
traceback), also when the partial batch response swallows the failure. Before a body runs, its
record starts with its whole lease, as under ``@idempotent``: a record whose claim is older than
a tenth of the lease (at most a second) has its lease renewed first (one conditional call), or
fails without running if another invocation took it over.
A handler may be ``async def`` (or return an awaitable): it is awaited under the record's lock,
bodies still one at a time in record order.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, cast

from idemlock._drivers import Done, advance
from idemlock._invocation import serving
from idemlock._leases import renew_after_ms
from idemlock._options import default_store, is_disabled
from idemlock._policy import Policy
from idemlock._protocol import claim_steps
from idemlock._proxy import FunctionProxy
from idemlock._results import close_unrun
from idemlock._steps import BodyFailed, Claim, Complete, Release, RunBody, Steps
from idemlock._unrecorded import Unrecorded, UnrecordedCompletes, send_again
from idemlock.errors import (
    BatchFailedError,
    ConfigurationError,
    LockLostError,
    StoreError,
    UnstorableResultError,
)
from idemlock.keys import call_key_fn, storage_key
from idemlock.lock import Lock, new_owner_token
from idemlock.sources.batches import Batch, Source, parse_batch
from idemlock.sources.s3_batch import TaskResult
from idemlock.store import CompleteRequest, LockStore, ReleaseRequest, batch_writes

logger = logging.getLogger("idemlock")

Record = Mapping[str, Any]


class RecordStatus(str, enum.Enum):
    """What happened to one record of a batch."""

    COMPLETED = "completed"
    """The body ran now and its key completed (``error``: its result could not be stored)."""
    DUPLICATE = "duplicate"
    """The record's key had completed before: skipped, the stored result replayed (``error``:
    there was none to replay)."""
    FAILED = "failed"
    """The body, the key or the lock failed: the record is reported for a retry."""
    NOT_RUN = "not_run"
    """Not run because an earlier record failed (ordered sources): reported for a retry.

    Its claim, if one was taken ahead, is released, so that the redelivery runs it after the
    earlier one."""
    RAN_NOT_RECORDED = "ran_not_recorded"
    """The body ran, but its complete could not be stored (the store failed through every
    retry, or the lease was lost): reported as processed, not for a retry.

    A retry would run it again, and in an ordered source after the records behind it: an older
    change applied after a newer one. Its complete is sent once more after the batch's others;
    if that fails too, its key stays ``IN_PROGRESS`` and the handler keeps the complete, to send
    it before this process next claims the key (the record is not run meanwhile). Logged as a
    WARNING."""
    ACKNOWLEDGED = "acknowledged"
    """Carries no work (S3's test message on a queue or topic): the handler was not called."""


@dataclass
class RecordOutcome:
    """One record's fate: its status, stored key, result (run or replayed) or error."""

    index: int
    record: Record
    status: RecordStatus
    key: str | None = None
    result: Any = None
    error: BaseException | None = None


@dataclass
class BatchOutcome:
    """Every record's outcome, in record order, and the response Lambda expects."""

    source: Source
    records: list[RecordOutcome]
    ordered: bool = False
    """Whether a failure stopped the batch (streams, SQS FIFO)."""

    @property
    def failures(self) -> list[RecordOutcome]:
        """The records to be retried: failed, or not run after an earlier failure."""
        retry = (RecordStatus.FAILED, RecordStatus.NOT_RUN)
        return [outcome for outcome in self.records if outcome.status in retry]

    def response(self) -> dict[str, Any]:
        """Lambda's partial batch response (``ReportBatchItemFailures``).

        Raises :class:`BatchFailedError` for a failed batch of a source without partial batch
        responses (S3), so that Lambda retries the whole event.
        """
        failures = self.failures
        if self.source.respond is not None:  # S3 Batch Operations: a result for every task
            return self.source.respond([_task_result(o) for o in self.records])
        if self.source.item_identifier is None:
            if failures:
                raise BatchFailedError(self._failed_message(), self)
            return {"batchItemFailures": []}
        if self.source.checkpointed and failures:
            failures = failures[:1]  # the checkpoint: Lambda resumes from this sequence number
        elif failures and self.ordered:
            failures = self.records[failures[0].index :]  # FIFO: the failed one and every later
        identify = self.source.item_identifier
        return {"batchItemFailures": [{"itemIdentifier": identify(o.record)} for o in failures]}

    def _failed_message(self) -> str:
        failures = self.failures
        failed = ", ".join(
            f"{o.key or f'record {o.index}'} ({type(o.error).__name__}: {o.error})"
            for o in failures
        )
        return f"{len(failures)} of {len(self.records)} records failed: {failed}"


class _NotRun(Exception):
    """Thrown into a claimed record's protocol when an earlier failure stops the batch."""


@dataclass
class _Task:
    index: int
    record: Record
    key: str | None = None
    steps: Steps | None = None
    body: RunBody | None = None
    waiting: bool = False
    ran: bool = False
    outcome: RecordOutcome | None = None
    copy_of: _Task | None = None
    """An earlier record of this batch with the same key: this one shares its fate."""
    lock: Lock | None = None
    """The claim its body ran under."""
    value: Any = None
    """What its body returned."""
    complete: Complete | None = None
    """Its last complete sent: sent again if the store failed it (``RAN_NOT_RECORDED``)."""
    gathered_in: type | None = None
    """The kind of batch request its store call waits in, not sent yet."""

    def finish(
        self, status: RecordStatus, result: Any = None, error: BaseException | None = None
    ) -> None:
        self.outcome = RecordOutcome(self.index, self.record, status, self.key, result, error)


class _Scheduler:
    """Advances many suspended protocols; their store calls run on the executor.

    With a store that writes in batches (:class:`BatchWrites`), the claims, completes and
    releases the protocols yield are gathered and sent a chunk per request: a chunk goes out
    when it is full; the claims gathered go out too whenever the batch's thread is about to
    wait (the bodies wait for them), and a complete or release when the thread waits for that
    record, or at the batch's end (no body waits for them). Every other step (a read, a
    backoff) is its own call, as for a store without batches.

    A finished call puts its future on one queue, which the batch's thread takes them from, one
    at a time: waiting on a set of futures instead would look at every call in flight at each
    wake-up.
    """

    def __init__(self, executor: Executor, store: LockStore | None) -> None:
        self._executor = executor
        self._batches = batch_writes(store)
        self._in_flight = 0
        self._done: queue.SimpleQueue[tuple[Future[Any], list[_Task] | _Task]] = queue.SimpleQueue()
        self._gathered: dict[type, dict[str, tuple[_Task, Any]]] = {kind: {} for kind in _BATCHED}

    def advance(self, task: _Task, sent: Any = None, error: BaseException | None = None) -> None:
        """Resume ``task``'s protocol until it needs a store call, the body, or is done."""
        assert task.steps is not None
        try:
            step = advance(task.steps, sent, error)
        except _NotRun:
            task.finish(RecordStatus.NOT_RUN)
        except UnstorableResultError as exc:
            # The body ran (now or before) and its key completed without the result: done, not
            # retried, since a redelivery would only meet ResultNotStoredError (logged).
            status = RecordStatus.COMPLETED if task.ran else RecordStatus.DUPLICATE
            task.finish(status, error=exc)
        except (StoreError, LockLostError) as exc:
            # After the body ran, only its complete fails so: the record ran all the same.
            status = RecordStatus.RAN_NOT_RECORDED if task.ran else RecordStatus.FAILED
            task.finish(status, error=exc)
        except BaseException as exc:  # the record's failure, reported in its outcome; a
            task.finish(RecordStatus.FAILED, error=exc)  # SystemExit is re-raised by run()
        else:
            if isinstance(step, Done):
                if step.body_error is not None:  # the body's own exception, as it raised it
                    task.finish(RecordStatus.FAILED, error=step.body_error)
                else:
                    status = RecordStatus.COMPLETED if task.ran else RecordStatus.DUPLICATE
                    task.finish(status, result=step.value)
            elif isinstance(step, RunBody):
                task.body = step
            else:
                if isinstance(step, Complete):
                    task.complete = step
                task.waiting = True
                self._send(task, step)

    def _send(self, task: _Task, step: Any) -> None:
        """Send ``step``'s call: gathered into its kind's next chunk, or by itself."""
        batches = self._batches
        gathered = self._gathered.get(type(step))
        if gathered is None or batches is None or not batches.writes_in_batches:
            self._submit(task, step.run)
            return
        key = step.request.key if isinstance(step, Claim) else step.key
        if key in gathered:  # one request names each item once
            self._flush(type(step))
        gathered[key] = (task, step)
        task.gathered_in = type(step)
        if len(gathered) >= batches.batch_limit:
            self._flush(type(step))

    def _flush(self, kind: type) -> None:
        """Send the gathered steps of ``kind`` as one request."""
        gathered = self._gathered[kind]
        if not gathered:
            return
        batches = self._batches
        assert batches is not None
        tasks = [task for task, _ in gathered.values()]
        for task in tasks:
            task.gathered_in = None
        steps = [step for _, step in gathered.values()]
        gathered.clear()
        if kind is Claim:
            self._submit(tasks, lambda: batches.claim_many([s.request for s in steps]))
        elif kind is Complete:
            self._submit(tasks, lambda: batches.complete_many([_completing(s) for s in steps]))
        else:
            releases = [ReleaseRequest(s.key, s.owner) for s in steps]
            self._submit(tasks, lambda: batches.release_many(releases))

    def flush(self) -> None:
        """Send every gathered step now."""
        for kind in _BATCHED:
            self._flush(kind)

    def _submit(self, tasks: list[_Task] | _Task, call: Callable[[], Any]) -> None:
        """Run ``call`` on the executor: one task's call, or a batch call of ``tasks``."""
        self._in_flight += 1
        future = self._executor.submit(call)
        future.add_done_callback(lambda done: self._done.put((done, tasks)))

    def settle(self, task: _Task) -> None:
        """Handle finished store calls until ``task`` is not waiting for one."""
        while task.waiting:
            if task.gathered_in is not None:
                self._flush(task.gathered_in)
            self._handle_next()

    def drain(self) -> None:
        """Handle store calls until none is in flight, nor gathered."""
        while self._in_flight or any(self._gathered.values()):
            self.flush()
            self._handle_next()

    def _handle_next(self) -> None:
        # About to wait: the claims gathered go now, as the bodies wait for them. Completes and
        # releases wait for a full request (no body waits for them) or for the batch's end.
        self._flush(Claim)
        future, sent_for = self._done.get()
        self._in_flight -= 1
        tasks = sent_for if isinstance(sent_for, list) else [sent_for]
        try:
            result = future.result()
        except BaseException as exc:  # handed to each protocol, which decides
            answers: list[Any] = [exc] * len(tasks)
        else:  # a batch call answers each entry, a StoreError for one it could not write
            answers = result if isinstance(sent_for, list) else [result]
        for task, answer in zip(tasks, answers, strict=True):
            task.waiting = False
            if isinstance(answer, BaseException):
                self.advance(task, error=answer)
            else:
                self.advance(task, sent=answer)


_BATCHED: Final = (Claim, Complete, Release)
"""The steps a store with batch writes takes many of per request."""


def _completing(step: Complete) -> CompleteRequest:
    return CompleteRequest(step.key, step.owner, step.now_ms, step.result, step.expires_at_s)


class BatchRunner:
    """Runs batches through the lock protocol with one set of options and one thread pool."""

    def __init__(self, *, key_fn: Callable[[Any], object] | None, policy: Policy) -> None:
        self._key_fn = key_fn
        self._policy = policy
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._unrecorded = UnrecordedCompletes()

    def run(
        self, event: Mapping[str, Any], context: object, handle: Callable[[Record], Any]
    ) -> BatchOutcome:
        """Run ``handle`` on every record of ``event``, each at most once to completion."""
        batch = parse_batch(event)  # sources parse; this module never reaches into an event
        source, records, ordered = batch
        policy = self._policy
        protect = not is_disabled(policy.disabled)
        store = (policy.store if policy.store is not None else default_store()) if protect else None
        lease_ms, budget_ms = policy.leases_for((context,), {})
        scheduler = _Scheduler(self._pool(), store)
        tasks = [_Task(index, record) for index, record in enumerate(records)]
        limit_ms = None if budget_ms is None else policy.clock_us() // 1000 + budget_ms
        starts = _Starts(source, store, lease_ms, limit_ms)
        window = _Window(
            tasks,
            lambda task: self._begin(task, scheduler, starts),
            most=policy.concurrency * _per_request(store),
            least=_per_request(store),
            renew_after_ms=renew_after_ms(lease_ms),
        )
        loop = _BodyLoop()
        try:
            aborted = self._run_bodies(
                tasks,
                scheduler=scheduler,
                window=window,
                ordered=ordered,
                loop=loop,
                run=lambda task, body: self._run_body(task.record, body, loop, handle),
            )
        finally:
            loop.close()
            scheduler.drain()  # every complete and release lands before we return or raise
        if aborted is not None:
            raise aborted
        self._record_again(tasks)
        outcomes = [task.outcome for task in tasks if task.outcome is not None]
        assert len(outcomes) == len(tasks)
        _log_failures(batch, outcomes)
        return BatchOutcome(source, outcomes, ordered)

    def _run_bodies(
        self,
        tasks: list[_Task],
        *,
        scheduler: _Scheduler,
        window: _Window,
        ordered: bool,
        loop: _BodyLoop,
        run: Callable[[_Task, RunBody], Any],
    ) -> BaseException | None:
        """Run the claimed records' bodies one at a time, in record order; an abort, if any.

        Each complete is sent (gathered into a batch request) as its body returns, while the
        next bodies run: none waits for it. After an abort, and in an ordered batch after any
        failed record, the records still to come do not run: a claimed one is released, one
        not yet claimed is not claimed at all.
        """
        aborted: BaseException | None = None
        stopped = False
        for task in tasks:
            if stopped and task.index >= window.started:
                task.finish(RecordStatus.NOT_RUN)  # never claimed
                continue
            if not stopped:
                window.reach(task.index)
            if task.copy_of is not None and task.copy_of is not task:
                scheduler.settle(task.copy_of)  # its body ran already; its complete may not have
                _share_outcome(task, task.copy_of)
            scheduler.settle(task)
            if task.body is None:  # a duplicate, a failed claim, or no key
                failed = task.outcome is not None and task.outcome.status is RecordStatus.FAILED
                stopped = stopped or (failed and ordered)
                continue
            body, task.body = task.body, None
            if stopped:
                scheduler.advance(task, error=_NotRun())  # releases the claim
                continue
            started = time.perf_counter()
            try:
                value = run(task, body)
            except Exception as exc:  # the record's failure; the protocol releases
                stopped = ordered
                scheduler.advance(task, error=BodyFailed(exc))
                continue
            except BaseException as exc:  # SystemExit, KeyboardInterrupt: stop all
                aborted, stopped = exc, True  # the records after it are released
                scheduler.advance(task, error=BodyFailed(exc))
                continue
            finally:
                window.ran(time.perf_counter() - started)
            task.ran, task.lock, task.value = True, body.lock, value
            scheduler.advance(task, sent=value)  # its complete, gathered; the next body runs
        return aborted

    def _run_body(
        self, record: Record, body: RunBody, loop: _BodyLoop, handle: Callable[[Record], Any]
    ) -> Any:
        """Run ``handle`` on ``record`` holding its lock (renewed first if it ran low)."""
        body.renew()  # its claim was taken when the window reached it, maybe long ago
        with body.holding():
            value = handle(record)
            if isinstance(value, Awaitable):
                value = loop.run(value)
        return value

    def _record_again(self, tasks: list[_Task]) -> None:
        """Send each complete the store failed once more, now that the batch's others are sent.

        One that fails again is kept, to be sent before this process next claims its key
        (:mod:`idemlock._unrecorded`); the record stays ``RAN_NOT_RECORDED``.
        """
        for task in tasks:
            outcome, complete, lock = task.outcome, task.complete, task.lock
            if outcome is None or outcome.status is not RecordStatus.RAN_NOT_RECORDED:
                continue
            if complete is None or lock is None or not isinstance(outcome.error, StoreError):
                continue  # its lock was lost: the key is another invocation's
            unrecorded = Unrecorded(complete, lock)
            try:
                send_again(self._policy, unrecorded)
            except LockLostError as lost:
                task.finish(RecordStatus.RAN_NOT_RECORDED, error=lost)
            except StoreError as exc:
                self._unrecorded.keep(unrecorded)
                task.finish(RecordStatus.RAN_NOT_RECORDED, error=exc)
            else:
                task.finish(RecordStatus.COMPLETED, result=task.value)
        for task in tasks:  # a later copy of a record shares its fate as it is now
            if task.copy_of is not None and task.copy_of is not task:
                _share_outcome(task, task.copy_of)

    def _begin(self, task: _Task, scheduler: _Scheduler, starts: _Starts) -> None:
        """Start ``task``'s protocol: its claim is sent (gathered), or it replays at once."""
        if starts.source.acknowledged(task.record):  # no work in it: no key, no claim, no body
            task.finish(RecordStatus.ACKNOWLEDGED)
            return
        try:
            task.key, task.steps = self._start(
                task.record,
                starts.source,
                starts.store,
                starts.lease_ms,
                budget_ms=starts.budget_ms(self._policy.clock_us() // 1000),
            )
        except Exception as exc:  # no key: this record fails, the others go on
            task.finish(RecordStatus.FAILED, error=exc)
            return
        if task.key is not None:
            task.copy_of = starts.first_with_key.setdefault(task.key, task)
            if task.copy_of is not task:
                task.steps = None  # never claimed: it takes the first copy's outcome
                return
            try:  # it ran here before, unrecorded: record it first
                self._unrecorded.settle(self._policy, task.key)
            except StoreError as exc:  # still unrecorded: it ran, so it must not run again
                task.steps = None
                task.finish(RecordStatus.RAN_NOT_RECORDED, error=exc)
                return
        scheduler.advance(task)  # gathers the claim, or replays from the local cache

    def _start(
        self,
        record: Record,
        source: Source,
        store: LockStore | None,
        lease_ms: int,
        *,
        budget_ms: int | None,
    ) -> tuple[str | None, Steps | None]:
        if store is None:
            return None, _unprotected()
        key_fn = self._key_fn or source.record_key
        key = storage_key(self._policy.namespace, call_key_fn(key_fn, key_fn, (record,), {}))
        steps = claim_steps(
            store,
            self._policy,
            key=key,
            owner=new_owner_token(),
            lease_ms=lease_ms,
            fingerprint=None,
            budget_ms=budget_ms,
        )
        return key, steps

    def _pool(self) -> ThreadPoolExecutor:
        # One pool per runner, kept across the invocations of a warm container.
        if self._executor is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self._policy.concurrency, thread_name_prefix="idemlock-batch"
                    )
        return self._executor


class RecordsHandler(FunctionProxy):
    """The Lambda handler ``@idempotent_records`` makes of ``handle(record, context)``.

    Call it as ``handler(event, context)`` for the partial batch response, or use
    :meth:`process` for every record's outcome (status, stored result, error). A wrapt proxy of
    ``handle``: its name, docstring and ``__wrapped__`` are ``handle``'s.
    """

    def __init__(self, handle: Callable[[Any, Any], object], runner: BatchRunner) -> None:
        def respond(
            wrapped: Callable[[Any, Any], object],
            instance: object,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> dict[str, Any]:
            return _process(runner, wrapped, *args, **kwargs).response()

        super().__init__(handle, respond)
        self._self_runner = runner  # wrapt keeps `_self_` attributes on the proxy itself

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Process the batch; Lambda's ``{"batchItemFailures": [...]}``."""
        # wrapt types the proxy by handle(record, context); respond() answers for the batch.
        return cast(dict[str, Any], super().__call__(event, context))

    def process(self, event: Mapping[str, Any], context: Any = None) -> BatchOutcome:
        """Process the batch and return every record's outcome."""
        return _process(self._self_runner, self.__wrapped__, event, context)


def _process(
    runner: BatchRunner,
    handle: Callable[[Any, Any], object],
    event: Mapping[str, Any],
    context: Any = None,
) -> BatchOutcome:
    with serving((context,), {}):  # what each record's body calls knows the deadline
        return runner.run(event, context, lambda record: handle(record, context))


@dataclass
class _Starts:
    """What starting a record's protocol needs, the same for every record of a batch."""

    source: Source
    store: LockStore | None
    lease_ms: int
    limit_ms: int | None
    """Inside Lambda, when any lease of the batch ends at the latest: deadline plus grace."""
    first_with_key: dict[str, _Task] = field(default_factory=dict)
    """The first record of the batch with each key: a later one shares its fate."""

    def budget_ms(self, now_ms: int) -> int | None:
        """How long from ``now_ms`` a record's lease may last: a record started late has less."""
        return None if self.limit_ms is None else self.limit_ms - now_ms


class _Window:
    """Starts the records' protocols a bounded window ahead of the bodies.

    Claims go out ahead of the bodies, so that each body finds its claim answered, but not
    much further: a claim taken long before its body would need its lease renewed first (a
    round trip on the bodies' path), and 10,000 records would hold 10,000 protocols at once.
    The window starts as wide as the store calls that can be in flight (``most``: the pool's
    threads times the records per request) and narrows as bodies take time, so that a claim
    is not older than half the renewal threshold when its body starts (never below
    ``least``: one request's worth).
    """

    def __init__(
        self,
        tasks: list[_Task],
        start: Callable[[_Task], None],
        *,
        most: int,
        least: int,
        renew_after_ms: int,
    ) -> None:
        self._tasks, self._start = tasks, start
        self._most, self._least, self._renew_after_ms = most, least, renew_after_ms
        self._size = most
        self._bodies, self._body_s = 0, 0.0
        self.started = 0
        """How many records (from the first) have their protocols started."""

    def reach(self, index: int) -> None:
        """Start every record up to the window's width past ``index``."""
        end = min(len(self._tasks), index + 1 + self._size)
        while self.started < end:
            task = self._tasks[self.started]
            self.started += 1
            self._start(task)

    def ran(self, seconds: float) -> None:
        """A body took ``seconds``: fit the window to the bodies' mean time."""
        self._bodies += 1
        self._body_s += seconds
        mean_ms = self._body_s * 1000 / self._bodies
        fits = self._most if mean_ms <= 0 else int(self._renew_after_ms / 2 / mean_ms)
        self._size = max(self._least, min(self._most, fits))


def _per_request(store: LockStore | None) -> int:
    """How many records' claims one request takes: a batch store's limit, else one."""
    batches = batch_writes(store)
    if batches is not None and batches.writes_in_batches:
        return batches.batch_limit
    return 1


class _BodyLoop:
    """The event loop an ``async def`` record handler's bodies run on, one per batch.

    Made on the first awaitable (a batch of plain functions never makes one) and closed when
    the batch ends. The batch thread runs each body to its end on it, in record order, under
    the record's lock (the body's task copies the context, :func:`current_lock` included).
    """

    def __init__(self) -> None:
        self._loop: Any = None

    def run(self, awaitable: Awaitable[Any]) -> Any:
        """The awaitable's result (or its exception), run to completion now."""
        if self._loop is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                close_unrun(awaitable)
                raise ConfigurationError(
                    "an async record handler was called from inside a running event loop; "
                    "call the batch handler from synchronous code, as Lambda does (or in a "
                    "thread: await asyncio.to_thread(handler, event, context))"
                )
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(_await(awaitable))

    def close(self) -> None:
        """Close the loop, if one was made."""
        if self._loop is not None:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
            self._loop = None


async def _await(awaitable: Awaitable[Any]) -> Any:
    """A coroutine of any awaitable, as ``run_until_complete`` needs one."""
    return await awaitable


def _log_failures(batch: Batch, outcomes: list[RecordOutcome]) -> None:
    """Log every failed record, with its key, its id and the traceback: never a silent failure.

    The partial batch response only names a failed record; the reason would be lost with it.
    """
    for outcome in outcomes:
        if outcome.status in _LOGGED:
            logger.warning(
                _LOGGED[outcome.status],
                batch.source.name,
                batch.id_of(outcome.index),
                outcome.key,
                outcome.error,
                exc_info=outcome.error,
                extra={"idemlock_key": outcome.key, "idemlock_record": outcome.index},
            )
        elif outcome.error is not None:  # completed (or a duplicate) without its result
            logger.warning(
                "%s record %s (key %r) ran, but its result is not stored: %s",
                batch.source.name,
                batch.id_of(outcome.index),
                outcome.key,
                outcome.error,
                extra={"idemlock_key": outcome.key, "idemlock_record": outcome.index},
            )


_LOGGED: Final = {
    RecordStatus.FAILED: "%s record %s (key %r) failed: %r",
    RecordStatus.RAN_NOT_RECORDED: "%s record %s (key %r) ran, but its complete could not be "
    "stored, so it is reported as processed, not for a retry (see RAN_NOT_RECORDED): %r",
}


def _share_outcome(copy: _Task, first: _Task) -> None:
    """Give a record the outcome of the batch's earlier record with the same key (settled).

    A duplicate of it once it completed; else its failure (or not run) too, so that the
    redelivery brings both back.
    """
    outcome = first.outcome
    assert outcome is not None
    if outcome.status in (RecordStatus.COMPLETED, RecordStatus.DUPLICATE):
        copy.finish(RecordStatus.DUPLICATE, result=outcome.result)
    else:
        copy.finish(outcome.status, error=outcome.error)


def _unprotected() -> Steps:
    """The protocol with idempotency switched off: just the body, no lock."""
    return (yield RunBody(None))


def _task_result(outcome: RecordOutcome) -> TaskResult:
    """How a record ended, for a source that builds its own response."""
    error = outcome.error
    if outcome.status is RecordStatus.RAN_NOT_RECORDED:
        error = None  # it ran: a failed task would be run again
    if error is None and outcome.status is RecordStatus.NOT_RUN:
        error = _NotRun("not run: an earlier record of the batch failed")
    return TaskResult(outcome.record, outcome.result, error)
