"""Where features meet: each test reproduces one double run or crash of issue 23 on DynamoDB Local.

Every test here failed on the code before its fix (the issue's item number is in its docstring);
docs/guarantees.md says what each now promises. Real time appears only as generous bounds
(`knock_until`, `wait_for`), never as a claim about how long something took.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from idemlock import (
    DynamoDBStore,
    Lock,
    LockStatus,
    current_lock,
    idempotent,
    idempotent_records,
)
from idemlock.batch import RecordStatus
from idemlock.errors import ConfigurationError, IdemlockError, StoreError
from idemlock.events import LockEvent
from idemlock.lock import LAMBDA_LEASE_GRACE_MS
from idemlock.otel import span_events
from idemlock.store import Claim, ClaimResult, CompleteRequest, ReleaseRequest
from idemlock.testing import LambdaContext, ManualClock, MemoryStore
from tests.aws import fresh_table
from tests.batch_events import sqs_event, stream_event
from tests.polling import knock_until, wait_for
from tests.recording import Events


@pytest.fixture(scope="module")
def store(dynamodb_local: str) -> DynamoDBStore:
    """One lock table on DynamoDB Local for this module; each test has its own namespace."""
    return fresh_table(dynamodb_local)


def in_thread(call: Callable[[], object], done: threading.Event) -> threading.Thread:
    """Start ``call`` on a thread that sets ``done`` however the call ends."""

    def run() -> None:
        try:
            call()
        except IdemlockError:
            pass  # the outcome the test asserts is what ran, not how the first call ended
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


# -- 1. a batch record gets its whole lease ------------------------------------------------------


def test_each_batch_record_starts_with_its_whole_lease(
    store: DynamoDBStore, namespace: str
) -> None:
    """Item 1: lease=10, bodies of 4.9 s and 5.5 s (virtual): a redelivery of the second record
    at 10.4 s finds it in progress (its lease began when its body began), and its body ran once."""
    clock = ManualClock()
    runs: list[int] = []
    redelivery: dict[str, Any] = {}

    def redeliver_second() -> None:
        redelivery["answer"] = handler(single, LambdaContext(remaining_ms=600_000))

    def handle(record: dict[str, Any], context: object) -> None:
        n = int(record["messageId"].rsplit("-", 1)[1])
        runs.append(n)
        clock.advance(4.9 if n == 0 else 5.5)
        if n == 1 and len(runs) == 2:  # 10.4 s after the claims: a redelivery arrives
            thread = threading.Thread(target=redeliver_second)
            thread.start()
            thread.join()

    handler = idempotent_records(store=store, namespace=namespace, lease=10, clock=clock)(handle)
    event = sqs_event(2)
    single = {"Records": [event["Records"][1]]}
    assert handler(event, LambdaContext(remaining_ms=600_000)) == {"batchItemFailures": []}
    assert runs == [0, 1], "the redelivery ran the second body while the first run of it lived"
    assert redelivery["answer"] == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_a_batch_record_whose_renewal_outlasts_its_lease_is_not_run(
    store: DynamoDBStore, namespace: str
) -> None:
    """Simulation, seed 6: lease=10; record 0's body takes 5 s, so record 1's lease is renewed,
    and the ``extended`` sink then takes 11 s, while a redelivery takes record 1 over and
    completes it. Record 1's body must not run again on its lapsed first claim."""
    clock = ManualClock()
    runs: list[int] = []
    redelivered: list[dict[str, Any]] = []

    def handle(record: dict[str, Any], context: object) -> None:
        n = int(record["messageId"].rsplit("-", 1)[1])
        runs.append(n)
        if n == 0:
            clock.advance(5)

    def slow_sink(event: LockEvent) -> None:
        if event.kind == "extended" and event.key.endswith("m-1") and not redelivered:
            clock.advance(11)  # a sink slower than the lease; a redelivery meanwhile
            thread = threading.Thread(
                target=lambda: redelivered.append(handler(single, LambdaContext()))
            )
            thread.start()
            thread.join()

    handler = idempotent_records(
        store=store, namespace=namespace, lease=10, clock=clock, on_event=slow_sink
    )(handle)
    event = sqs_event(2)
    single = {"Records": [event["Records"][1]]}
    answer = handler(event, LambdaContext(remaining_ms=600_000))
    assert redelivered == [{"batchItemFailures": []}]  # it took record 1 over and ran it
    assert runs == [0, 1], "record 1 ran again on its first claim after it completed"
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


class LateClaimAnswer:
    """A store whose claim answers ``late_s`` (on ``clock``) after it landed: a slow network."""

    def __init__(self, inner: DynamoDBStore, clock: ManualClock, late_s: float) -> None:
        self.inner, self.clock, self.late_s = inner, clock, late_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def claim(self, request: Any) -> Any:
        answer = self.inner.claim(request)
        self.clock.advance(self.late_s)
        return answer


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_call_whose_claim_answer_came_late_starts_with_its_whole_lease(
    store: DynamoDBStore, namespace: str, kind: str
) -> None:
    """Simulation, everything at once, seed 4: lease=10; the claim's answer comes 6 s after it
    landed, and the body takes 5 s. A redelivery at 11 s must find the key in progress: the
    body is owed its whole lease from its start, as a batch record is (item 1)."""
    clock = ManualClock()
    runs: list[str] = []
    late = LateClaimAnswer(store, clock, late_s=6)

    def redeliver(order: str) -> Any:
        again = idempotent(lambda order: order, store=store, namespace=namespace, clock=clock)
        try:
            return again(lambda order: runs.append("again"))(order)
        except IdemlockError as exc:
            return exc

    if kind == "sync":

        @idempotent(lambda order: order, store=late, namespace=namespace, lease=10, clock=clock)
        def body(order: str) -> None:
            runs.append("first")
            clock.advance(5)
            runs.append(type(redeliver(order)).__name__)

        body("a")
    else:

        @idempotent(lambda order: order, store=late, namespace=namespace, lease=10, clock=clock)
        async def async_body(order: str) -> None:
            runs.append("first")
            clock.advance(5)
            runs.append(type(await asyncio.to_thread(redeliver, order)).__name__)

        asyncio.run(async_body("a"))
    assert runs == ["first", "InProgressError"], "the redelivery took over a running body"


class FailingExtend(LateClaimAnswer):
    """A late claim answer, and a store that fails every extension (its renewal)."""

    def extend(self, key: str, owner: str, **lease: Any) -> Any:
        raise StoreError("throttled", operation="extend", key=key)


def test_a_renewal_that_fails_releases_the_key_and_runs_nothing(
    store: DynamoDBStore, namespace: str
) -> None:
    """The claim answered 6 s late on a 10 s lease; its renewal fails: the call raises the
    store error before the body starts, and the key is free for the next delivery."""
    clock = ManualClock()
    runs: list[str] = []

    @idempotent(
        lambda order: order,
        store=FailingExtend(store, clock, late_s=6),
        namespace=namespace,
        lease=10,
        clock=clock,
    )
    def body(order: str) -> None:
        runs.append(order)

    with pytest.raises(StoreError, match="throttled"):
        body("a")
    assert runs == []
    assert store.get(f"{namespace}#a") is None


class ClockedContext(LambdaContext):
    """A Lambda context whose remaining time runs down with ``clock``."""

    def __init__(self, clock: ManualClock, remaining_ms: int) -> None:
        super().__init__()
        self.clock, self.deadline_s = clock, clock() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline_s - self.clock()) * 1000)


def test_no_batch_record_extends_past_the_invocations_deadline() -> None:
    """A record whose claim the window sends late (bodies of 1 s, one request in flight) asks
    extend(600) in its body at 39 s, 60 s into a 60 s invocation: its lease ends at the deadline
    plus the grace, not 60 s after its own claim was sent."""
    clock = ManualClock()
    context = ClockedContext(clock, remaining_ms=60_000)
    leases: list[int] = []

    def handle(record: dict[str, Any], context: object) -> None:
        clock.advance(1)
        lock = current_lock()
        assert lock is not None
        lock.extend(600)
        leases.append(lock.lease_expires_at_ms)

    handler = idempotent_records(store=MemoryStore(), lease=600, clock=clock, concurrency=1)(handle)
    assert handler(sqs_event(40), context) == {"batchItemFailures": []}
    deadline_ms = context.deadline_s * 1000
    assert max(leases) <= deadline_ms + LAMBDA_LEASE_GRACE_MS


# -- 4. leases only move forward -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_a_late_shorter_extension_never_moves_the_stored_lease_back(
    store: DynamoDBStore, namespace: str, kind: str
) -> None:
    """Item 4: extend to +60 s, then an extension to +0.6 s lands: the store keeps +60 s."""
    target: Any = store if kind == "dynamodb" else MemoryStore()
    seen: list[Lock] = []

    @idempotent(lambda order: order, store=target, namespace=namespace, lease=30)
    def body(order: str) -> None:
        lock = current_lock()
        assert lock is not None
        now_ms = int(time.time() * 1000)
        assert target.extend(
            lock.key, lock.owner, lease_expires_at_ms=now_ms + 60_000, expires_at_s=0
        )
        target.extend(lock.key, lock.owner, lease_expires_at_ms=now_ms + 600, expires_at_s=0)
        item = target.get(lock.key)
        assert item is not None
        assert item.lease_expires_at_ms == now_ms + 60_000
        seen.append(lock)

    body("a")
    assert seen


class LateFirstAnswer:
    """A store whose first extension answers only after a second extension has landed."""

    def __init__(self, inner: DynamoDBStore) -> None:
        self.inner = inner
        self.second_landed = threading.Event()
        self.extends = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def extend(self, key: str, owner: str, **lease: Any) -> Any:
        self.extends += 1
        answer = self.inner.extend(key, owner, **lease)
        if self.extends == 1:
            self.second_landed.wait(30)
        else:
            self.second_landed.set()
        return answer


def test_the_lock_believes_the_lease_the_store_holds(store: DynamoDBStore, namespace: str) -> None:
    """Item 4: a manual extend(60)'s answer comes back after a heartbeat's shorter extension
    landed: the Lock reports the lease the store holds (60 s), not the last answer's."""
    late = LateFirstAnswer(store)

    @idempotent(lambda order: order, store=late, namespace=namespace, lease=1, heartbeat=0.3)
    def body(order: str) -> tuple[int, int | None]:
        lock = current_lock()
        assert lock is not None
        lock.extend(60)  # returns after a heartbeat's extension to ~1 s from now landed
        item = store.get(lock.key)
        assert item is not None
        return lock.lease_expires_at_ms, item.lease_expires_at_ms

    believed, stored = body("a")
    assert believed == stored
    assert stored > time.time() * 1000 + 30_000


# -- 2, 3. heartbeats never wait for the body's loop, executor or sinks --------------------------


@pytest.mark.parametrize("blocker", ["sleep_on_loop", "full_executor"])
def test_a_heartbeat_beside_an_async_body_is_not_starved(
    store: DynamoDBStore, namespace: str, blocker: str
) -> None:
    """Item 2: an async body that blocks its loop, or fills the default executor (16 threads),
    is never taken over while it runs (lease=1, heartbeat=True)."""
    done = threading.Event()
    runs: list[str] = []

    async def block() -> None:
        if blocker == "sleep_on_loop":
            time.sleep(3)
            return
        await asyncio.gather(*(asyncio.to_thread(time.sleep, 3) for _ in range(16)))

    @idempotent(lambda order: order, store=store, namespace=namespace, lease=1, heartbeat=True)
    async def body(order: str) -> None:
        runs.append(order)
        await block()

    def other() -> None:
        asyncio.run(body("a"))

    first = in_thread(other, done)
    wait_for(lambda: bool(runs))
    outcomes = knock_until(done, other)
    first.join()
    assert runs == ["a"], outcomes


def test_a_slow_sink_never_delays_an_extension(store: DynamoDBStore, namespace: str) -> None:
    """Item 3: a sink taking 1.5 s on each ``extended`` event (lease 1 s) delays no extension."""
    done = threading.Event()
    runs: list[str] = []

    def slow_sink(event: LockEvent) -> None:
        if event.kind == "extended":
            time.sleep(1.5)

    @idempotent(
        lambda order: order,
        store=store,
        namespace=namespace,
        lease=1,
        heartbeat=True,
        on_event=slow_sink,
    )
    def body(order: str) -> None:
        runs.append(order)
        time.sleep(4)

    first = in_thread(lambda: body("a"), done)
    wait_for(lambda: bool(runs))
    outcomes = knock_until(done, lambda: body("a"))
    first.join()
    assert runs == ["a"], outcomes


# -- 5. a heartbeat slower than the lease --------------------------------------------------------


def test_a_heartbeat_period_not_shorter_than_the_lease_is_refused() -> None:
    """Item 5: lease=1, heartbeat=5 never beats in time: refused at decoration."""
    with pytest.raises(ConfigurationError, match="heartbeat"):
        idempotent(lambda order: order, store=MemoryStore(), lease=1, heartbeat=5)
    with pytest.raises(ConfigurationError, match="heartbeat"):
        idempotent_records(store=MemoryStore(), lease=1, heartbeat=1)


# -- 6. default namespaces -----------------------------------------------------------------------


def test_two_lambdas_in_one_module_never_share_a_default_namespace() -> None:
    """Item 6: two lambdas of one module, no namespace=: each runs (or the second is refused)."""
    memory = MemoryStore()
    first = idempotent(lambda order: order, store=memory)(lambda order: "first")
    with pytest.raises(ConfigurationError, match=r"pass namespace="):
        idempotent(lambda order: order, store=memory)(lambda order: "second")
    assert first("a") == "first"


def make_handler(tag: str) -> Callable[[str], str]:
    @idempotent(lambda order: order, store=FACTORY_STORE)
    def handler(order: str) -> str:
        return tag

    return handler


FACTORY_STORE = MemoryStore()


def test_handlers_made_by_a_factory_never_share_a_default_namespace() -> None:
    """Item 6: a factory's second handler is refused, naming both, and saying namespace=."""
    first = make_handler("first")
    assert first("a") == "first"
    with pytest.raises(ConfigurationError, match=r"namespace=") as refused:
        make_handler("second")
    assert "make_handler.<locals>.handler" in str(refused.value)


def test_the_same_function_decorated_again_keeps_its_namespace() -> None:
    """Item 6, the other side: re-decorating one function (a re-import) is not an ambiguity."""

    def handler(order: str) -> str:
        return order

    memory = MemoryStore()
    assert idempotent(lambda order: order, store=memory)(handler)("a") == "a"
    assert idempotent(lambda order: order, store=memory)(handler)("a") == "a"


# -- 9. extend() edges ---------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [float("inf"), 1e308, float("nan")])
def test_extend_by_a_duration_too_long_to_store_is_a_configuration_error(seconds: float) -> None:
    """Item 9: extend(inf) or extend(1e308) raised a bare OverflowError."""

    @idempotent(lambda order: order, store=MemoryStore(), lease=5)
    def body(order: str) -> None:
        lock = current_lock()
        assert lock is not None
        with pytest.raises(ConfigurationError, match="extend"):
            lock.extend(seconds)
        assert not lock.lost

    body("a")


def test_extend_on_a_lock_whose_call_ended_is_a_configuration_error() -> None:
    """Item 9: extend() after the call ended raised LockLostError and fired lock_lost."""
    events = Events()
    lost: list[Lock] = []
    kept: list[Lock] = []

    @idempotent(
        lambda order: order,
        store=MemoryStore(),
        lease=5,
        on_event=events,
        on_lock_lost=lost.append,
    )
    def body(order: str) -> None:
        lock = current_lock()
        assert lock is not None
        kept.append(lock)

    body("a")
    with pytest.raises(ConfigurationError, match="ended"):
        kept[0].extend(5)
    assert not kept[0].lost
    assert lost == []
    assert "lock_lost" not in events.kinds()


# -- 10. a heartbeat thread that cannot start ----------------------------------------------------


def test_a_heartbeat_that_cannot_start_frees_the_key(
    store: DynamoDBStore, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 10: Thread.start raising (the thread limit) left the key IN_PROGRESS for the lease."""
    runs: list[str] = []

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    @idempotent(lambda order: order, store=store, namespace=namespace, lease=60, heartbeat=True)
    def body(order: str) -> None:
        runs.append(order)

    with monkeypatch.context() as patched:
        patched.setattr(threading.Thread, "start", refuse)
        with pytest.raises(IdemlockError, match="heartbeat"):
            body("a")
    assert runs == []
    assert current_lock() is None
    assert store.get(f"{namespace}#a") is None
    body("a")
    assert runs == ["a"]


# -- 13. leases and clocks at the edges ----------------------------------------------------------


@pytest.mark.parametrize("remaining", [float("nan"), float("inf"), "1000", None])
def test_a_context_with_unreadable_remaining_time_is_logged(
    remaining: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 13: a context reporting NaN, inf, a string or None fell back silently."""

    class Unreadable(LambdaContext):
        def get_remaining_time_in_millis(self) -> Any:
            return remaining

    context = Unreadable()

    @idempotent(lambda order, context: order, store=MemoryStore())
    def handler(order: str, context: object) -> str:
        return order

    with caplog.at_level(logging.WARNING, logger="idemlock"):
        assert handler("a", context) == "a"
    told = [
        record
        for record in caplog.records
        if "get_remaining_time_in_millis" in record.getMessage()
        and record.levelno == logging.WARNING
    ]
    assert len(told) == 1, caplog.text  # once per call, not once per reading


@pytest.mark.parametrize("now", [float("nan"), float("inf")])
def test_a_clock_returning_no_time_is_a_configuration_error(now: float) -> None:
    """Item 13: a clock() returning NaN or inf raised an untyped error."""
    runs: list[str] = []

    @idempotent(lambda order: order, store=MemoryStore(), clock=lambda: now)
    def body(order: str) -> None:
        runs.append(order)

    with pytest.raises(ConfigurationError, match="clock"):
        body("a")
    assert runs == []


def test_a_lease_longer_than_the_retention_is_refused() -> None:
    """Item 13: a crash would block the key past its own retention."""
    with pytest.raises(ConfigurationError, match="retention"):
        idempotent(lambda order: order, store=MemoryStore(), lease=120, retention=60)


# -- 14. span events from the heartbeat thread ---------------------------------------------------


@pytest.fixture
def spans() -> Iterator[Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    exporter.clear()


def test_heartbeat_events_reach_the_span_of_their_call(
    store: DynamoDBStore, namespace: str, spans: Any
) -> None:
    """Item 14: span_events dropped every event from the heartbeat thread."""
    tracer, exporter = spans
    kinds: list[str] = []

    def sink(event: LockEvent) -> None:
        kinds.append(event.kind)
        span_events(event)

    @idempotent(
        lambda order: order,
        store=store,
        namespace=namespace,
        lease=1,
        heartbeat=0.1,
        on_event=sink,
    )
    def body(order: str) -> None:
        wait_for(lambda: "extended" in kinds)

    with trace.use_span(tracer.start_span("call"), end_on_exit=True):
        body("a")
    (span,) = exporter.get_finished_spans()
    assert "idemlock.extended" in [event.name for event in span.events]


# -- 7. ordered batches never re-apply an older change -------------------------------------------


class CompletesThrottled:
    """A store whose completes of ``keys`` fail as a throttled call does after every retry
    (the first ``failures`` of them; all, without)."""

    def __init__(self, inner: DynamoDBStore, keys: set[str], failures: int | None = None) -> None:
        self.inner = inner
        self.keys = keys
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    # Batch writes are found on the class (idemlock.store.batch_writes): a wrapper that
    # delegates through __getattr__ defines the ones it does not change too.
    def claim_many(self, claims: list[Claim]) -> list[ClaimResult | StoreError]:
        return self.inner.claim_many(claims)

    def release_many(self, releases: list[ReleaseRequest]) -> list[bool | StoreError]:
        return self.inner.release_many(releases)

    def complete(self, key: str, owner: str, **completion: Any) -> Any:
        error = self._throttled(key)
        if error is not None:
            raise error
        return self.inner.complete(key, owner, **completion)

    def complete_many(self, completes: list[CompleteRequest]) -> list[bool | StoreError]:
        """The same faults in a batch: a throttled statement answers with its error."""
        errors = [self._throttled(complete.key) for complete in completes]
        sent = [c for c, error in zip(completes, errors, strict=True) if error is None]
        answers = iter(self.inner.complete_many(sent))
        return [error or next(answers) for error in errors]

    def _throttled(self, key: str) -> StoreError | None:
        if key in self.keys and self.failures != 0:
            if self.failures is not None:
                self.failures -= 1
            return StoreError("throttled through every retry", operation="complete", key=key)
        return None


def two_changes_of_one_item() -> dict[str, Any]:
    """A DynamoDB stream batch: item-0's v goes 0 → 1, then 1 → 2 (sequence numbers 100, 101)."""
    event = stream_event(2)
    for version, record in enumerate(event["Records"], start=1):
        change = record["dynamodb"]
        change["Keys"] = {"id": {"S": "item-0"}}
        change["OldImage"] = {"id": {"S": "item-0"}, "v": {"N": str(version - 1)}}
        change["NewImage"] = {"id": {"S": "item-0"}, "v": {"N": str(version)}}
    return event


def test_an_ordered_batch_never_applies_an_older_change_after_a_newer_one(
    store: DynamoDBStore, namespace: str
) -> None:
    """Item 7: the first record's complete fails through every retry; Lambda redelivers from
    the reported sequence number once the leases are over. Downstream saw v1, v2, v1, v2."""
    clock = ManualClock()
    applied: list[str] = []
    first_key: set[str] = set()
    throttled = CompletesThrottled(store, first_key)

    def handle(record: dict[str, Any], context: object) -> None:
        lock = current_lock()
        assert lock is not None
        if not applied:
            first_key.add(lock.key)
        applied.append(record["dynamodb"]["NewImage"]["v"]["N"])

    handler = idempotent_records(store=throttled, namespace=namespace, lease=60, clock=clock)(
        handle
    )
    event = two_changes_of_one_item()
    response = handler(event, LambdaContext(remaining_ms=600_000))
    first_key.clear()  # the store is well again
    clock.advance(120)  # every lease of the first invocation is over
    failed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    if failed:  # Lambda resumes the shard from the reported sequence number
        numbers = [record["dynamodb"]["SequenceNumber"] for record in event["Records"]]
        redelivered = {"Records": event["Records"][numbers.index(failed[0]) :]}
        handler(redelivered, LambdaContext(remaining_ms=600_000))
    assert "1" not in applied[applied.index("2") :], applied
    assert response == {"batchItemFailures": []}  # the first ran: reported as processed


def applying(applied: list[str], first_key: set[str]) -> Callable[[dict[str, Any], object], None]:
    """A stream handler noting each change it applies; the first record's key in ``first_key``."""

    def handle(record: dict[str, Any], context: object) -> None:
        lock = current_lock()
        assert lock is not None
        if not applied:
            first_key.add(lock.key)
        applied.append(record["dynamodb"]["NewImage"]["v"]["N"])

    return handle


def test_a_failed_complete_is_sent_again_after_the_batchs_other_completes(
    store: DynamoDBStore, namespace: str
) -> None:
    """Item 7: the first record's complete fails its three attempts; once more after the
    second record's complete, it lands: both records end COMPLETED."""
    applied: list[str] = []
    first_key: set[str] = set()
    throttled = CompletesThrottled(store, first_key, failures=3)
    handler = idempotent_records(store=throttled, namespace=namespace, lease=60)(
        applying(applied, first_key)
    )
    outcome = handler.process(two_changes_of_one_item(), LambdaContext(remaining_ms=600_000))
    assert [o.status for o in outcome.records] == [RecordStatus.COMPLETED] * 2
    assert throttled.failures == 0
    item = store.get(first_key.pop())
    assert item is not None
    assert item.status is LockStatus.COMPLETED
    assert applied == ["1", "2"]


def test_a_second_delivery_never_runs_again_a_record_that_ran_unrecorded(
    store: DynamoDBStore, namespace: str
) -> None:
    """Item 7: the first record's complete fails through every retry and once more; Lambda
    delivers the batch again after the leases (at least once): while the store still fails, the
    record is not run again; once it is well, the kept complete lands and the record replays."""
    clock = ManualClock()
    applied: list[str] = []
    first_key: set[str] = set()
    throttled = CompletesThrottled(store, first_key)
    handler = idempotent_records(store=throttled, namespace=namespace, lease=60, clock=clock)(
        applying(applied, first_key)
    )
    event = two_changes_of_one_item()

    def deliver() -> list[RecordStatus]:
        clock.advance(120)  # every lease of the delivery before is over
        outcome = handler.process(event, LambdaContext(remaining_ms=600_000))
        return [o.status for o in outcome.records]

    ran, done, dup = RecordStatus.RAN_NOT_RECORDED, RecordStatus.COMPLETED, RecordStatus.DUPLICATE
    assert deliver() == [ran, done]
    assert deliver() == [ran, dup], applied  # still failing: not run again
    first_key_now = set(first_key)
    first_key.clear()  # the store is well again
    assert deliver() == [dup, dup]
    assert applied == ["1", "2"]
    item = store.get(first_key_now.pop())
    assert item is not None
    assert item.status is LockStatus.COMPLETED
