"""Per-record idempotency for batch events, with Lambda's partial batch response.

Each record goes through the same protocol as ``@idempotent``
(:func:`idemlock._protocol.claim_steps`), but the records' protocols are interleaved: every
claim is sent at once (on a bounded thread pool), bodies run one at a time in record order as
their claims come back, and each complete or release is sent as soon as its body ends, while the
next body runs. A batch of N records costs a few round trips of latency (claims, then the last
complete), not 2N.

When a record fails (its body, its claim, or its complete):

- DynamoDB Streams, Kinesis: stop; the records after it do not run (their claims are released);
  report the failed record's sequence number: Lambda retries from there.
- SQS FIFO: stop; report the failed message and every later one.
- In both, completes are confirmed in record order: a record's complete is sent once the one
  before it is confirmed, while the next bodies run. So when a complete fails, no later record
  of the invocation ends COMPLETED, and the redelivery replays them in order after it.
- SQS standard: run everything; report each failed message.
- S3 (no partial batch response): run everything, then raise :class:`BatchFailedError` listing
  the failed objects, so Lambda retries the event; completed objects are skipped on the retry.

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
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, cast

from idemlock._drivers import Done, advance
from idemlock._invocation import serving
from idemlock._leases import extend_lease, lose
from idemlock._options import default_store, is_disabled
from idemlock._policy import Policy
from idemlock._protocol import claim_steps
from idemlock._proxy import FunctionProxy
from idemlock._results import close_unrun
from idemlock._steps import BodyFailed, Complete, RunBody, Steps
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
from idemlock.store import LockStore

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

    Its key is released, so that the redelivery runs it after the earlier one."""
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

    def finish(
        self, status: RecordStatus, result: Any = None, error: BaseException | None = None
    ) -> None:
        self.outcome = RecordOutcome(self.index, self.record, status, self.key, result, error)


class _Scheduler:
    """Advances many suspended protocols; their store calls run on the executor.

    A finished store call puts its future on one queue, which the batch's thread takes them
    from, one at a time: waiting on a set of futures instead would look at every call in
    flight at each wake-up (a hundred, for a batch of a hundred records).
    """

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._in_flight = 0
        self._done: queue.SimpleQueue[tuple[Future[Any], _Task]] = queue.SimpleQueue()

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
                self._in_flight += 1
                future = self._executor.submit(step.run)
                future.add_done_callback(lambda done: self._done.put((done, task)))

    def settle(self, task: _Task) -> None:
        """Handle finished store calls until ``task`` is not waiting for one."""
        while task.waiting:
            self._handle_next()

    def drain(self) -> None:
        """Handle store calls until none is in flight."""
        while self._in_flight:
            self._handle_next()

    def _handle_next(self) -> None:
        future, task = self._done.get()
        self._in_flight -= 1
        task.waiting = False
        try:
            result = future.result()
        except BaseException as exc:  # handed to the protocol, which decides
            self.advance(task, error=exc)
        else:
            self.advance(task, sent=result)


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
        scheduler = _Scheduler(self._pool())
        tasks = [_Task(index, record) for index, record in enumerate(records)]
        self._claim_all(tasks, scheduler, source, store, lease_ms, budget_ms=budget_ms)
        completes = _OrderedCompletes(scheduler) if ordered else _Completes(scheduler)
        loop = _BodyLoop()
        try:
            aborted = self._run_bodies(
                tasks,
                scheduler=scheduler,
                completes=completes,
                loop=loop,
                store=store,
                context=context,
                handle=handle,
            )
        finally:
            loop.close()
            completes.abandon()  # after an abort: queued bodies' keys are released
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
        completes: _Completes,
        loop: _BodyLoop,
        store: LockStore | None,
        context: object,
        handle: Callable[[Record], Any],
    ) -> BaseException | None:
        """Run the claimed records' bodies one at a time, in record order; an abort, if any.

        ``completes`` sends each complete as its body returns, and says when the bodies still to
        come must not run (an abort; in an ordered batch, any failure before them).
        """
        aborted: BaseException | None = None
        for task in tasks:
            if task.copy_of is not None and task.copy_of is not task:
                completes.send_ready(wait=True)  # the first copy's queued complete goes first
                scheduler.settle(task.copy_of)  # its body ran already; its complete may not have
                _share_outcome(task, task.copy_of)
            scheduler.settle(task)
            completes.send_ready()
            if task.body is None:  # a duplicate, a failed claim, or no key
                if task.outcome is not None and task.outcome.status is RecordStatus.FAILED:
                    completes.record_failed()
                continue
            body, task.body = task.body, None
            if completes.stopped:
                scheduler.advance(task, error=_NotRun())  # releases the claim
                continue
            try:
                value = self._run_body(task.record, body, loop, store, context, handle)
            except Exception as exc:  # the record's failure; the protocol releases
                completes.record_failed()
                scheduler.advance(task, error=BodyFailed(exc))
                continue
            except BaseException as exc:  # SystemExit, KeyboardInterrupt: stop all
                aborted = exc  # the records after it are released
                completes.stop()
                scheduler.advance(task, error=BodyFailed(exc))
                continue
            task.ran, task.lock, task.value = True, body.lock, value
            completes.done(task, value)
        if aborted is None:
            completes.finish()
        return aborted

    def _run_body(  # noqa: PLR0917  (one record's run, as _run_bodies has its parts)
        self,
        record: Record,
        body: RunBody,
        loop: _BodyLoop,
        store: LockStore | None,
        context: object,
        handle: Callable[[Record], Any],
    ) -> Any:
        """Run ``handle`` on ``record`` holding its lock (renewed first if it ran low)."""
        body = self._renewed(body, store, context)
        with body.holding():
            value = handle(record)
            if isinstance(value, Awaitable):
                value = loop.run(value)
        return value

    def _renewed(self, body: RunBody, store: LockStore | None, context: object) -> RunBody:
        """``body`` with its whole lease ahead of it, as ``lease=`` means under ``@idempotent``.

        Every claim was taken when the batch started; a record behind slow ones may have little
        of its lease left, or none, and another invocation may have taken it over. So a body
        whose claim is older than a tenth of the lease (at most a second: a batch of quick
        bodies renews nothing) has its lease renewed to a whole lease from now, on condition
        that we still own the key (:class:`LockLostError` if not: the record fails, not run).

        The renewal tells its ``extended`` event on this thread, before the body: an
        ``on_event`` sink slower than the lease would start the body on a lapsed lease, taken
        over meanwhile. So the lease is looked at again after each renewal and renewed again
        (at most :data:`_RENEWALS` times); a lease that still ran out is lost.
        """
        lock = body.lock
        if lock is None or store is None:
            return body
        policy = self._policy
        lease_ms = policy.lease_ms_for((context,), {})
        for _ in range(_RENEWALS):
            now_ms = policy.clock_us() // 1000
            if lock.lease_expires_at_ms - now_ms >= lease_ms - min(lease_ms // 10, 1_000):
                return body
            extend_lease(store, policy, lock, now_ms + lease_ms)
        if lock.lease_expires_at_ms > policy.clock_us() // 1000:
            return body  # ours until then: no other invocation can have taken it over yet
        raise lose(policy, lock)  # every renewal's events outlasted the lease

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

    def _claim_all(
        self,
        tasks: list[_Task],
        scheduler: _Scheduler,
        source: Source,
        store: LockStore | None,
        lease_ms: int,
        *,
        budget_ms: int | None,
    ) -> None:
        """Start every record's protocol: all claims go out at once."""
        first_with_key: dict[str, _Task] = {}
        for task in tasks:
            if source.acknowledged(task.record):  # no work in it: no key, no claim, no body
                task.finish(RecordStatus.ACKNOWLEDGED)
                continue
            try:
                task.key, task.steps = self._start(
                    task.record, source, store, lease_ms, budget_ms=budget_ms
                )
            except Exception as exc:  # no key: this record fails, the others go on
                task.finish(RecordStatus.FAILED, error=exc)
                continue
            if task.key is not None:
                task.copy_of = first_with_key.setdefault(task.key, task)
                if task.copy_of is not task:
                    task.steps = None  # never claimed: it takes the first copy's outcome
                    continue
                try:  # it ran here before, unrecorded: record it first
                    self._unrecorded.settle(self._policy, task.key)
                except StoreError as exc:  # still unrecorded: it ran, so it must not run again
                    task.steps = None
                    task.finish(RecordStatus.RAN_NOT_RECORDED, error=exc)
                    continue
            scheduler.advance(task)  # sends the claim, or replays from the local cache

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


class _Completes:
    """The completes of an unordered batch: each sent as its body returns.

    Only an abort (``SystemExit``, ``KeyboardInterrupt``) stops the bodies still to come; a
    record's failure is its own.
    """

    def __init__(self, scheduler: _Scheduler) -> None:
        self._scheduler = scheduler
        self.stopped = False
        """Whether the bodies still to come must not run (their claims are released)."""

    def done(self, task: _Task, value: Any) -> None:
        """``task``'s body returned ``value``: send its complete; the next body runs meanwhile."""
        self._scheduler.advance(task, sent=value)

    def record_failed(self) -> None:
        """A record failed (its claim or its body): the others go on."""

    def stop(self) -> None:
        """Run no more bodies: the batch is aborted."""
        self.stopped = True

    def send_ready(self, *, wait: bool = False) -> None:
        """Send what waits for an earlier complete: nothing, unordered."""

    def finish(self) -> None:
        """Send every complete still waiting: none, unordered."""

    def abandon(self) -> None:
        """Release the keys of the records whose completes were never sent: none, unordered."""


class _OrderedCompletes(_Completes):
    """The completes of an ordered batch, sent one after another in record order.

    A record's complete goes out once the complete before it is confirmed; meanwhile the next
    bodies run. Any failure stops the bodies still to come: a failed record, or a failed
    complete, whose queued successors are released instead (``NOT_RUN``), so no record after a
    failure ends COMPLETED and the redelivery replays them in order. Sending them all at once
    would be faster, but a failed complete could then leave later records COMPLETED, skipped
    on the redelivery while the failed one re-runs after them.
    """

    def __init__(self, scheduler: _Scheduler) -> None:
        super().__init__(scheduler)
        self._queued: deque[tuple[_Task, Any]] = deque()
        self._last: _Task | None = None

    def done(self, task: _Task, value: Any) -> None:
        """Queue ``task``'s complete (its body returned ``value``) and send what is ready."""
        self._queued.append((task, value))
        self.send_ready()

    def record_failed(self) -> None:
        """A record failed: nothing after it may run, nor complete."""
        self.stop()

    def send_ready(self, *, wait: bool = False) -> None:
        """Send the queued completes whose predecessors are confirmed (``wait``: all of them).

        A failed complete stops the batch and releases the records queued behind it.
        """
        while self._queued:
            last = self._last
            if last is not None and last.outcome is None:
                if not wait:
                    return
                self._scheduler.settle(last)
            if last is not None and last.outcome is not None and not _succeeded(last.outcome):
                self.stop()
                self.abandon()
                return
            task, value = self._queued.popleft()
            self._last = task
            self._scheduler.advance(task, sent=value)

    def finish(self) -> None:
        """Send every queued complete, each after the one before it is confirmed."""
        self.send_ready(wait=True)

    def abandon(self) -> None:
        """Release the keys of every queued record: an earlier record failed."""
        while self._queued:
            task, _ = self._queued.popleft()
            self._scheduler.advance(task, error=_NotRun())


def _succeeded(outcome: RecordOutcome) -> bool:
    """Whether the records after it may complete: it ran, or had run before."""
    return outcome.status in _PROCESSED


_RENEWALS: Final = 3
"""How many times a batch record's lease is renewed before its body (see ``_renewed``)."""

_PROCESSED: Final = frozenset(
    {RecordStatus.COMPLETED, RecordStatus.DUPLICATE, RecordStatus.RAN_NOT_RECORDED}
)


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
