"""The protocol and batches at the edges real deployments hit, on DynamoDB Local.

Each test names the promise it checks (docs/guarantees.md, docs/triggers.md). They run on
DynamoDB Local, the official implementation, because leases, takeovers and conditional writes are
what they are about; MemoryStore alone would prove nothing here.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest

from idemlock import DynamoDBStore, StreamDispatcher, current_lock, idempotent, idempotent_records
from idemlock.batch import RecordStatus
from idemlock.errors import ConfigurationError, EventError, StoreError
from idemlock.item import LockStatus
from idemlock.store import Claim, ClaimResult, CompleteRequest
from idemlock.testing import LambdaContext, ManualClock
from tests.aws import fresh_table, take_over
from tests.batch_events import kinesis_event, number, sqs_event, stream_event

EventRecord = dict[str, Any]


@pytest.fixture(scope="module")
def store(dynamodb_local: str) -> DynamoDBStore:
    """One lock table on DynamoDB Local for this module; each test has its own namespace."""
    return fresh_table(dynamodb_local)


def by_key(store: DynamoDBStore, key: str) -> LockStatus | None:
    """The stored status of ``key``, ``None`` when there is no item."""
    record = store.get(key)
    return None if record is None else record.status


# -- 1. the lease inside Lambda -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lease", "remaining_ms", "expected_ms"),
    [
        (600, 1_000, 3_000),  # the deadline caps an explicit lease: 1 s left + 2 s grace
        (1, 30_000, 1_000),  # a shorter explicit lease stays
        (None, 0, 2_000),  # no time left: the grace alone, not the 5-minute default
        (None, -50, 2_000),
        (600, -50, 2_000),
    ],
)
def test_the_invocation_deadline_caps_the_lease(
    store: DynamoDBStore,
    namespace: str,
    lease: float | None,
    remaining_ms: int,
    expected_ms: int,
) -> None:
    """Lease = min(lease=, remaining time + grace); remaining <= 0 gives the grace only."""
    stored = []

    @idempotent(lambda event, context: event["id"], store=store, namespace=namespace, lease=lease)
    def handler(event: EventRecord, context: object) -> None:
        lock = current_lock()
        assert lock is not None
        stored.append(store.get(lock.key))

    handler({"id": "a"}, LambdaContext(remaining_ms=remaining_ms))

    (record,) = stored
    assert record is not None
    assert record.lease_expires_at_ms is not None
    assert record.lease_expires_at_ms - record.claimed_at_ms == expected_ms


# -- 2. the body's exceptions come back unchanged -------------------------------------------------


def test_stop_iteration_from_the_body_is_reraised_unchanged(
    store: DynamoDBStore, namespace: str
) -> None:
    """A body raising StopIteration re-raises that very exception, and the key is freed."""
    raised = StopIteration("no more orders")

    @idempotent(lambda order: order, store=store, namespace=namespace)
    def charge(order: str) -> None:
        raise raised

    with pytest.raises(StopIteration) as caught:
        charge("o-1")
    assert caught.value is raised
    assert by_key(store, f"{namespace}#o-1") is None


def test_stop_async_iteration_from_an_async_body_is_reraised_unchanged(
    store: DynamoDBStore, namespace: str
) -> None:
    """An async body's StopAsyncIteration comes back as itself, the key freed."""
    raised = StopAsyncIteration("done")

    @idempotent(lambda order: order, store=store, namespace=namespace)
    async def charge(order: str) -> None:
        raise raised

    with pytest.raises(StopAsyncIteration) as caught:
        asyncio.run(charge("o-1"))
    assert caught.value is raised
    assert by_key(store, f"{namespace}#o-1") is None


def test_a_batch_records_stop_iteration_as_the_records_error(
    store: DynamoDBStore, namespace: str
) -> None:
    """In a batch, the failed record's outcome carries the body's StopIteration itself."""

    def handle(record: EventRecord, context: object) -> None:
        if number(record) == 1:
            raise StopIteration("empty")

    handler = idempotent_records(store=store, namespace=namespace)(handle)
    outcome = handler.process(sqs_event(3), LambdaContext())

    statuses = [record.status for record in outcome.records]
    assert statuses == [RecordStatus.COMPLETED, RecordStatus.FAILED, RecordStatus.COMPLETED]
    assert type(outcome.records[1].error) is StopIteration


# -- 3. results replay as returned ----------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [{1: "one", "1": "uno"}, {2: "two"}, [{"a": {None: 1}}], {"ok": [{True: "yes"}]}],
)
def test_results_with_non_string_keys_replay_with_their_keys(
    store: DynamoDBStore, namespace: str, result: object
) -> None:
    """Non-str dict keys are stored typed (JSON alone would turn them into strings and merge
    them): the duplicate gets the same keys, of the same types, and the body runs once."""
    runs = []

    @idempotent(lambda order: order, store=store, namespace=namespace)
    def charge(order: str) -> object:
        runs.append(order)
        return result

    assert charge("o-1") is result
    replayed = charge("o-1")
    assert replayed == result
    assert repr(replayed) == repr(result)  # True stays True, not 1; None stays None
    assert runs == ["o-1"]


def test_omit_completes_without_storing_an_unstorable_result(
    store: DynamoDBStore, namespace: str
) -> None:
    """With on_unstorable_result="omit" the key completes and duplicates replay None."""
    runs = []
    value = {"handle": object()}

    @idempotent(lambda order: order, store=store, namespace=namespace, on_unstorable_result="omit")
    def charge(order: str) -> object:
        runs.append(order)
        return value

    assert charge("o-1") is value
    assert charge("o-1") is None
    assert runs == ["o-1"]


# -- 4. never COMPLETED before the work ran -------------------------------------------------------


def test_generator_functions_are_refused_at_decoration(store: DynamoDBStore) -> None:
    """A generator (or async generator) function does its work lazily: refused up front."""

    def lines(path: str) -> Iterator[str]:
        yield path

    async def pages(path: str) -> Any:  # an async generator
        yield path

    for function in (lines, pages):
        with pytest.raises(ConfigurationError, match="generator"):
            idempotent(lambda path: path, store=store)(function)


def sync_looking(function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """An ordinary decorator around an ``async def``: a plain function returning a coroutine."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Awaitable[Any]:
        return function(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize(
    "options",
    [{}, {"store_result": False}, {"on_unstorable_result": "omit"}],
)
def test_a_coroutine_returned_by_a_sync_looking_function_is_refused(
    store: DynamoDBStore, namespace: str, options: dict[str, Any]
) -> None:
    """Never COMPLETED before the work ran: ConfigurationError at the call, the key released."""
    work: list[str] = []

    @idempotent(lambda order: order, store=store, namespace=namespace, **options)
    @sync_looking
    async def charge(order: str) -> str:
        work.append(order)
        return order

    with pytest.raises(ConfigurationError, match="coroutine"):
        charge("o-1")
    assert by_key(store, f"{namespace}#o-1") is None
    assert work == []  # the coroutine was closed, never run


@pytest.mark.parametrize("make", [lambda: iter([1, 2]), lambda: (n for n in range(2))])
def test_iterator_results_are_refused(
    store: DynamoDBStore, namespace: str, make: Callable[[], Any]
) -> None:
    """An iterator result may do its work when iterated, after the key completed: refused."""

    @idempotent(lambda order: order, store=store, namespace=namespace, on_unstorable_result="omit")
    def charge(order: str) -> Any:
        return make()

    with pytest.raises(ConfigurationError, match="iterator"):
        charge("o-1")
    assert by_key(store, f"{namespace}#o-1") is None


# -- 5. async cancellation while the claim is in flight ---------------------------------------


class SlowClaims(DynamoDBStore):
    """The same table, with every claim arriving ``delay`` seconds late (a slow network)."""

    def __init__(self, base: DynamoDBStore, delay: float) -> None:
        super().__init__(base.table_name, client=base.client, attributes=base.attributes)
        self.delay = delay
        self.claims_landed = threading.Event()

    def claim(self, claim: Claim) -> ClaimResult:
        time.sleep(self.delay)
        try:
            return super().claim(claim)
        finally:
            self.claims_landed.set()


def test_cancelling_during_the_claim_releases_a_claim_that_lands(
    store: DynamoDBStore, namespace: str
) -> None:
    """wait_for() cancelling a slow claim: the claim lands, is released, the body never runs."""
    slow = SlowClaims(store, delay=0.3)
    ran = []

    @idempotent(lambda order: order, store=slow, namespace=namespace, lease=300)
    async def charge(order: str) -> None:
        ran.append(order)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(charge("o-1"), 0.05)

    asyncio.run(main())
    assert slow.claims_landed.wait(5)
    assert ran == []
    assert by_key(store, f"{namespace}#o-1") is None  # free now, not for the 300 s lease


# -- 6. the local cache and operators -----------------------------------------------------------


def test_a_released_key_reaches_warm_containers_within_the_cache_ttl(
    store: DynamoDBStore, namespace: str
) -> None:
    """local_cache entries live at most local_cache_ttl (not the 24 h retention)."""
    clock = ManualClock(start=time.time())
    runs = []

    @idempotent(
        lambda order: order,
        store=store,
        namespace=namespace,
        local_cache=16,
        local_cache_ttl=60,
        clock=clock,
    )
    def charge(order: str) -> int:
        runs.append(order)
        return len(runs)

    assert charge("o-1") == 1
    assert store.delete(f"{namespace}#o-1")  # the operator's `idemlock release`
    clock.advance(59)
    assert charge("o-1") == 1  # still the cached result within the ttl
    clock.advance(2)
    assert charge("o-1") == 2  # the release has reached this container
    assert runs == ["o-1", "o-1"]


# -- 7. ordered batches: a record that ran never runs again after its successors -----------------


class FailingComplete(DynamoDBStore):
    """The same table, with the complete of one key failing as an unreachable DynamoDB would."""

    def __init__(self, base: DynamoDBStore, failing_key: str) -> None:
        super().__init__(base.table_name, client=base.client, attributes=base.attributes)
        self.failing_key = failing_key

    def complete(
        self, key: str, owner: str, *, now_ms: int, result: str | None, expires_at_s: int | None
    ) -> bool:
        if key == self.failing_key:
            time.sleep(0.05)  # slower than the next bodies: they run before it fails
            raise StoreError("injected: DynamoDB unreachable", operation="complete", key=key)
        return super().complete(key, owner, now_ms=now_ms, result=result, expires_at_s=expires_at_s)

    def complete_many(self, completes: Sequence[CompleteRequest]) -> list[bool | StoreError]:
        """The same fault in a batch: the failing key's statement answers with the error."""
        others = [c for c in completes if c.key != self.failing_key]
        answers = iter(super().complete_many(others) if others else [])
        if len(others) < len(completes):
            time.sleep(0.05)
        failed = StoreError("injected: DynamoDB unreachable", operation="complete")
        return [failed if c.key == self.failing_key else next(answers) for c in completes]


@pytest.mark.parametrize("failure", ["store_error", "lock_lost"])
@pytest.mark.parametrize("source", ["kinesis", "dynamodb", "sqs-fifo"])
def test_ordered_batch_completes_nothing_after_a_failed_complete(
    store: DynamoDBStore, namespace: str, failure: str, source: str, monkeypatch: Any
) -> None:
    """Record 2's complete fails (the store, or a takeover) after its body ran: it is reported as
    processed (RAN_NOT_RECORDED), records 3 and 4 run and complete after it, and the batch asks
    for no retry: a redelivery from record 2 would apply it again after 3 and 4."""
    monkeypatch.setattr("idemlock._protocol.COMPLETE_BACKOFF_S", ())
    event = {
        "kinesis": lambda: kinesis_event(5),
        "dynamodb": lambda: stream_event(5),
        "sqs-fifo": lambda: sqs_event(5, fifo=True),
    }[source]()
    keys: list[str] = []

    def handle(record: EventRecord, context: object) -> None:
        lock = current_lock()
        assert lock is not None
        keys.append(lock.key)
        if number(record) == 2 and failure == "lock_lost":
            take_over(store, lock.key)
        time.sleep(0.01)

    ran: list[int] = []

    def counted(record: EventRecord, context: object) -> None:
        ran.append(number(record))
        handle(record, context)

    first_store: DynamoDBStore = store
    if failure == "store_error":
        # The key is known once record 2 has claimed; the first run records every key.
        probe = idempotent_records(store=store, namespace=namespace + "-probe")(counted)
        probe(event, LambdaContext())
        key_of_2 = keys[2].replace(namespace + "-probe#", namespace + "#")
        first_store = FailingComplete(store, key_of_2)
        keys.clear()
        ran.clear()
    handler = idempotent_records(store=first_store, namespace=namespace, lease=1)(counted)
    outcome = handler.process(event, LambdaContext())

    statuses = [record.status for record in outcome.records]
    assert statuses == [
        RecordStatus.COMPLETED,
        RecordStatus.COMPLETED,
        RecordStatus.RAN_NOT_RECORDED,
        RecordStatus.COMPLETED,
        RecordStatus.COMPLETED,
    ]
    assert ran == [0, 1, 2, 3, 4]
    for key in keys[3:]:
        assert by_key(store, key) is LockStatus.COMPLETED
    assert outcome.response() == {"batchItemFailures": []}


# -- 8. no body starts after its claim's lease ran out ---------------------------------------


def test_a_record_whose_lease_ran_out_is_not_run_again_after_a_takeover(
    store: DynamoDBStore, namespace: str
) -> None:
    """A slow early record lets record 1's lease expire; another container runs it; we do not."""
    runs: list[int] = []
    event = sqs_event(2)

    def handle(record: EventRecord, context: object) -> None:
        runs.append(number(record))
        if number(record) == 0:
            time.sleep(1.3)  # record 1's one-second lease runs out meanwhile
            other = idempotent_records(store=store, namespace=namespace, lease=30)(
                lambda record, context: runs.append(number(record))
            )
            single = {"Records": [event["Records"][1]]}
            assert other(single, None) == {"batchItemFailures": []}  # it took record 1 over

    handler = idempotent_records(store=store, namespace=namespace, lease=1)(handle)
    outcome = handler.process(event, None)

    assert runs == [0, 1]  # record 1 ran once, in the other container
    assert outcome.records[1].status is RecordStatus.FAILED


def test_a_waiting_records_lease_is_extended_before_its_body(
    store: DynamoDBStore, namespace: str
) -> None:
    """A body starts with its lease still ours for a safe margin: extended when it ran low."""
    seen: list[int] = []

    def handle(record: EventRecord, context: object) -> None:
        lock = current_lock()
        assert lock is not None
        stored = store.get(lock.key)
        assert stored is not None
        assert stored.lease_expires_at_ms is not None
        seen.append(stored.lease_expires_at_ms - int(time.time() * 1000))
        assert lock.lease_expires_at_ms == stored.lease_expires_at_ms
        if number(record) == 0:
            time.sleep(1.2)

    handler = idempotent_records(store=store, namespace=namespace, lease=2)(handle)
    outcome = handler.process(sqs_event(2), None)

    assert [record.status for record in outcome.records] == [RecordStatus.COMPLETED] * 2
    assert seen[1] > 1_000  # without the extension, under 0.8 s would be left


# -- 9. async record handlers are awaited --------------------------------------------------------


def test_async_record_handlers_are_awaited_in_record_order(
    store: DynamoDBStore, namespace: str
) -> None:
    """An async def handle() runs for every record, in order, under its lock."""
    ran: list[int] = []

    @idempotent_records(store=store, namespace=namespace)
    async def handle(record: EventRecord, context: object) -> int:
        await asyncio.sleep(0.001 * (5 - number(record)))
        assert current_lock() is not None
        ran.append(number(record))
        return number(record) * 10

    outcome = handle.process(kinesis_event(5), LambdaContext())

    assert ran == [0, 1, 2, 3, 4]
    assert [record.result for record in outcome.records] == [0, 10, 20, 30, 40]
    assert handle(kinesis_event(5), LambdaContext()) == {"batchItemFailures": []}
    assert ran == [0, 1, 2, 3, 4]  # the redelivery replays


def test_an_async_handlers_failure_is_the_records_failure(
    store: DynamoDBStore, namespace: str
) -> None:
    """An async handler that raises fails its record (released), as a sync one does."""

    @idempotent_records(store=store, namespace=namespace)
    async def handle(record: EventRecord, context: object) -> None:
        if number(record) == 1:
            raise ValueError("bad order")

    response = handle(sqs_event(3), LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_async_stream_dispatcher_handlers_are_awaited(store: DynamoDBStore, namespace: str) -> None:
    """Async on_modify handlers run (awaited), in order with the sync ones."""
    ran: list[str] = []
    dispatcher = StreamDispatcher(store=store, namespace=namespace)

    @dispatcher.on_modify
    async def first(record: Any) -> None:
        await asyncio.sleep(0)
        ran.append(f"async-{record.keys['id']}")

    dispatcher.on_modify.append(lambda record: ran.append(f"sync-{record.keys['id']}"))

    assert dispatcher.dispatch(stream_event(2), LambdaContext()) == {"batchItemFailures": []}
    assert ran == ["async-item-0", "sync-item-0", "async-item-1", "sync-item-1"]


# -- 10. a failed record is never silent --------------------------------------------------------


def test_every_failed_record_is_logged_with_its_key_id_and_traceback(
    store: DynamoDBStore, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A body's exception inside a batch: a WARNING on `idemlock` with key, id and traceback."""

    def handle(record: EventRecord, context: object) -> None:
        if number(record) == 1:
            raise ValueError("bad order 1")

    handler = idempotent_records(store=store, namespace=namespace)(handle)
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        handler(sqs_event(3), LambdaContext())

    failed = [r for r in caplog.records if r.name == "idemlock" and r.levelno >= logging.WARNING]
    assert len(failed) == 1
    (entry,) = failed
    assert "m-1" in entry.getMessage()
    assert f"{namespace}#m-1" in entry.getMessage()
    assert entry.exc_info is not None
    assert isinstance(entry.exc_info[1], ValueError)


def test_a_dispatcher_on_the_wrong_trigger_fails_loudly(
    store: DynamoDBStore, namespace: str
) -> None:
    """A StreamDispatcher given an SQS event raises an EventError naming both sources."""
    dispatcher = StreamDispatcher(store=store, namespace=namespace)
    with pytest.raises(EventError, match=r"aws:dynamodb.*aws:sqs|aws:sqs.*aws:dynamodb"):
        dispatcher.dispatch(sqs_event(2), LambdaContext())
    assert list(store.scan(prefix=namespace)) == []


# -- 11. tumbling windows -------------------------------------------------------------------------


def tumbling_window(event: dict[str, Any]) -> dict[str, Any]:
    """A Kinesis event with a tumbling window's fields.

    Shape: AWS Lambda Developer Guide, "Using Lambda with Kinesis", tumbling windows
    (window, state, shardId, eventSourceARN, isFinalInvokeForWindow, isWindowTerminatedEarly).
    """
    return {
        **event,
        "window": {"start": "2026-11-28T17:00:00Z", "end": "2026-11-28T17:05:00Z"},
        "state": {"1": 282, "2": 715},
        "shardId": "shardId-000000000006",
        "eventSourceARN": event["Records"][0]["eventSourceARN"],
        "isFinalInvokeForWindow": False,
        "isWindowTerminatedEarly": False,
    }


@pytest.mark.parametrize("make", [kinesis_event, stream_event])
def test_tumbling_window_events_are_refused_by_name(
    store: DynamoDBStore, namespace: str, make: Callable[[int], dict[str, Any]]
) -> None:
    """A tumbling-window event is refused with an error naming the feature; nothing claimed."""
    handler = idempotent_records(store=store, namespace=namespace)(lambda record, context: None)
    with pytest.raises(EventError, match="tumbling window"):
        handler(tumbling_window(make(2)), LambdaContext())
    assert list(store.scan(prefix=namespace)) == []


def test_an_ordered_batch_with_a_repeated_key_shares_the_first_records_outcome(
    store: DynamoDBStore, namespace: str
) -> None:
    """Ordered completes: a later record with an earlier one's key waits for its complete."""
    ran: list[int] = []

    def handle(record: EventRecord, context: object) -> int:
        ran.append(number(record))
        return number(record)

    handler = idempotent_records(
        lambda record: str(min(number(record), 2)), store=store, namespace=namespace
    )(handle)
    outcome = handler.process(kinesis_event(4), LambdaContext())

    assert ran == [0, 1, 2]
    assert [record.status for record in outcome.records] == [
        RecordStatus.COMPLETED,
        RecordStatus.COMPLETED,
        RecordStatus.COMPLETED,
        RecordStatus.DUPLICATE,
    ]
    assert outcome.records[3].result == 2
