"""``wait=``: a duplicate that finds its key in progress waits for the first call's result.

The races run on DynamoDB Local: a first call holds the key in one thread while a duplicate
waits in another. Read and claim counts come from MemoryStore, whose ``calls`` counts them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from idemlock import DynamoDBStore, idempotent, idempotent_http, idempotent_records
from idemlock._waiting import (
    FIRST_PAUSE_MS,
    LAMBDA_RESERVE_MS,
    MAX_PAUSE_MS,
    MIN_PAUSE_MS,
    Waiting,
)
from idemlock.errors import ConfigurationError, InProgressError
from idemlock.events import LockEvent
from idemlock.lock import LAMBDA_LEASE_GRACE_MS
from idemlock.store import LockStore
from idemlock.testing import LambdaContext, MemoryStore
from tests.aws import fresh_table, make_client
from tests.batch_events import sqs_event
from tests.http_events import http_event, response_headers
from tests.round_trips import RoundTrips

JOIN_S = 60
"""How long a test waits for a thread it started before failing (never reached when it works)."""


class First:
    """The first call's body: it signals that it runs, then waits to be let go, then answers
    (or raises, with ``fail``). ``runs`` counts every run of the body, by any caller."""

    def __init__(self, *, fail: bool = False) -> None:
        self.started = threading.Event()
        self.finish = threading.Event()
        self.fail = fail
        self.runs: list[str] = []

    def __call__(self, order_id: str) -> dict[str, str]:
        self.runs.append(order_id)
        if len(self.runs) == 1:
            self.started.set()
            assert self.finish.wait(JOIN_S)
            if self.fail:
                raise RuntimeError("card declined")
            return {"charged": "by the first"}
        return {"charged": "by the waiter"}

    def let_go_when_waiting(self, event: LockEvent) -> None:
        """An on_event sink: a duplicate found the key in progress, so let the first finish."""
        if event.kind == "in_progress":
            self.finish.set()


@pytest.fixture
def dynamodb(dynamodb_local: str) -> DynamoDBStore:
    """A fresh lock table on DynamoDB Local."""
    return fresh_table(dynamodb_local)


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """``call`` started in a thread; its outcome (value or exception) lands in the list."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def charge(store: LockStore, first: First, **options: Any) -> Callable[[str], object]:
    return idempotent(
        lambda order_id: order_id,
        store=store,
        namespace="orders",
        on_event=first.let_go_when_waiting,
        **options,
    )(first)


@pytest.fixture
def started_first() -> Iterator[list[threading.Thread]]:
    """Threads a test started; joined at the end, so none outlives its test."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(JOIN_S)


def test_a_waiter_returns_the_first_calls_result_and_the_body_runs_once(
    dynamodb: DynamoDBStore, started_first: list[threading.Thread]
) -> None:
    """The duplicate waits while the first runs, then replays its stored result."""
    first = First()
    handler = charge(dynamodb, first, wait=30)
    thread, outcome = in_thread(lambda: handler("o-1"))
    started_first.append(thread)
    assert first.started.wait(JOIN_S)

    assert handler("o-1") == {"charged": "by the first"}

    thread.join(JOIN_S)
    assert outcome == [{"charged": "by the first"}]
    assert first.runs == ["o-1"]


def test_a_waiter_runs_the_body_when_the_first_call_fails(
    dynamodb: DynamoDBStore, started_first: list[threading.Thread]
) -> None:
    """The first call fails and frees the key: the waiter claims it and runs the body."""
    first = First(fail=True)
    handler = charge(dynamodb, first, wait=30)
    thread, outcome = in_thread(lambda: handler("o-1"))
    started_first.append(thread)
    assert first.started.wait(JOIN_S)

    assert handler("o-1") == {"charged": "by the waiter"}

    thread.join(JOIN_S)
    assert [type(error) for error in outcome] == [RuntimeError]
    assert first.runs == ["o-1", "o-1"]
    item = dynamodb.get("orders#o-1")
    assert item is not None
    assert item.attempts == 1  # the first call's item was deleted: the waiter's is a new one


def test_waiting_gives_up_after_wait_with_in_progress(
    dynamodb: DynamoDBStore, started_first: list[threading.Thread]
) -> None:
    """The first never finishes within ``wait``: InProgressError, the body not run again."""
    first = First()
    holder = idempotent(lambda order_id: order_id, store=dynamodb, namespace="orders")(first)
    thread, _ = in_thread(lambda: holder("o-1"))
    started_first.append(thread)
    assert first.started.wait(JOIN_S)
    waiter = idempotent(lambda order_id: order_id, store=dynamodb, namespace="orders", wait=0.3)(
        first
    )

    with pytest.raises(InProgressError) as caught:
        waiter("o-1")

    assert caught.value.key == "orders#o-1"
    first.finish.set()
    thread.join(JOIN_S)
    assert first.runs == ["o-1"]


def test_a_waiter_takes_over_a_lease_that_runs_out_while_it_waits(
    dynamodb: DynamoDBStore, started_first: list[threading.Thread]
) -> None:
    """The holder hangs past a short lease: the waiter claims the key then, and runs it."""
    first = First()
    holder = idempotent(lambda order_id: order_id, store=dynamodb, namespace="orders", lease=0.5)(
        first
    )
    thread, _ = in_thread(lambda: holder("o-1"))
    started_first.append(thread)
    assert first.started.wait(JOIN_S)
    events: list[LockEvent] = []
    waiter = idempotent(
        lambda order_id: order_id,
        store=dynamodb,
        namespace="orders",
        wait=30,
        on_event=events.append,
    )(first)

    assert waiter("o-1") == {"charged": "by the waiter"}

    first.finish.set()
    thread.join(JOIN_S)
    assert [event.kind for event in events] == ["in_progress", "taken_over", "completed"]


def test_a_waiter_reads_and_never_claims_while_the_lease_is_live() -> None:
    """No write storm on a hot key: one claim, then only reads until the first completes."""
    store, first = MemoryStore(), First()
    reads_before_finish = 5
    handler = idempotent(lambda order_id: order_id, store=store, namespace="orders")(first)
    thread, _ = in_thread(lambda: handler("o-1"))
    assert first.started.wait(JOIN_S)
    original_get = store.get

    def get(key: str) -> Any:
        if store.calls["get"] >= reads_before_finish:
            first.finish.set()
            thread.join(JOIN_S)
        return original_get(key)

    store.get = get  # type: ignore[method-assign]
    waiter = idempotent(lambda order_id: order_id, store=store, namespace="orders", wait=60)(first)

    assert waiter("o-1") == {"charged": "by the first"}

    assert store.calls["claim"] == 2  # the first call's, and the waiter's one claim
    assert store.calls["get"] == reads_before_finish + 1
    assert first.runs == ["o-1"]


def test_async_functions_wait_too(started_first: list[threading.Thread]) -> None:
    """An ``async def`` waiter waits off its event loop and replays the first result."""
    store, first = MemoryStore(), First()
    handler = charge(store, first, wait=30)
    thread, _ = in_thread(lambda: handler("o-1"))
    started_first.append(thread)
    assert first.started.wait(JOIN_S)

    @idempotent(
        lambda order_id: order_id,
        store=store,
        namespace="orders",
        wait=30,
        on_event=first.let_go_when_waiting,
    )
    async def charge_async(order_id: str) -> dict[str, str]:
        return {"charged": "async"}

    assert asyncio.run(charge_async("o-1")) == {"charged": "by the first"}
    assert first.runs == ["o-1"]


def test_idempotent_records_wait_for_a_record_in_progress(
    dynamodb: DynamoDBStore, started_first: list[threading.Thread]
) -> None:
    """A redelivered batch waits for the record its first delivery is still running."""
    started, finish, runs = threading.Event(), threading.Event(), []

    def handle(record: dict[str, Any], context: object) -> str:
        runs.append(record["messageId"])
        started.set()
        assert finish.wait(JOIN_S)
        return "done"

    def let_go(event: LockEvent) -> None:
        if event.kind == "in_progress":
            finish.set()

    batch = idempotent_records(store=dynamodb, namespace="queue", wait=30, on_event=let_go)(handle)
    event = sqs_event(1)
    thread, outcome = in_thread(lambda: batch(event, LambdaContext()))
    started_first.append(thread)
    assert started.wait(JOIN_S)

    assert batch(event, LambdaContext()) == {"batchItemFailures": []}

    thread.join(JOIN_S)
    assert outcome == [{"batchItemFailures": []}]
    assert len(runs) == 1


def test_idempotent_http_retry_waits_and_gets_the_first_response(
    dynamodb: DynamoDBStore, started_first: list[threading.Thread]
) -> None:
    """A client's retry during the first request gets its response, marked replayed."""
    started, finish, runs = threading.Event(), threading.Event(), []

    def create_order(event: object, context: object) -> dict[str, Any]:
        runs.append(1)
        started.set()
        assert finish.wait(JOIN_S)
        return {"statusCode": 201, "body": '{"order": "o-1"}'}

    def let_go(event: LockEvent) -> None:
        if event.kind == "in_progress":
            finish.set()

    handler = idempotent_http(store=dynamodb, namespace="orders", wait=30, on_event=let_go)(
        create_order
    )
    request = http_event("rest")
    thread, _ = in_thread(lambda: handler(request, LambdaContext()))
    started_first.append(thread)
    assert started.wait(JOIN_S)

    retry = handler(request, LambdaContext())

    assert retry["statusCode"] == 201
    assert response_headers(retry)["idempotent-replayed"] == "true"
    assert runs == [1]


@pytest.mark.parametrize("wait", [0, -1, "10", float("inf")])
def test_wait_must_be_a_positive_duration(wait: object) -> None:
    """A wait that is not a positive, finite duration is refused when decorating."""
    with pytest.raises(ConfigurationError, match="wait"):
        idempotent(lambda key: key, store=MemoryStore(), wait=wait)  # type: ignore[arg-type]


def test_pauses_grow_with_jitter_and_add_up_to_the_wait() -> None:
    """The n-th pause is drawn from the upper half of 50 ms * 2**n (at most 1 s); the pauses
    add up to the wait; none outlasts the holder's lease by more than 25 ms."""
    waiting = Waiting(10_000, budget_ms=None)
    pauses = []
    while (pause := waiting.pause_s(lease_left_ms=60_000)) is not None:
        pauses.append(pause)
    assert sum(pauses) == pytest.approx(10.0)
    assert max(pauses) <= MAX_PAUSE_MS / 1000
    ceilings = [min(FIRST_PAUSE_MS * 2**n, MAX_PAUSE_MS) / 1000 for n in range(len(pauses))]
    assert all(
        ceiling / 2 <= pause <= ceiling
        for pause, ceiling in zip(pauses[:-1], ceilings, strict=False)  # the last: what is left
    )
    first_pause = Waiting(10_000, None).pause_s(lease_left_ms=100_000)
    assert first_pause is not None
    assert first_pause >= FIRST_PAUSE_MS / 2000
    assert Waiting(10_000, None).pause_s(lease_left_ms=4) == pytest.approx(MIN_PAUSE_MS / 1000)
    assert Waiting(10_000, None).pause_s(lease_left_ms=-4) == pytest.approx(MIN_PAUSE_MS / 1000)


def test_waiting_ends_before_the_lambda_deadline() -> None:
    """Inside Lambda, a wait longer than the time left ends a reserve before the deadline."""
    left_ms = 2_000  # the invocation's remaining time
    waiting = Waiting(60_000, budget_ms=left_ms + LAMBDA_LEASE_GRACE_MS)
    total = 0.0
    while (pause := waiting.pause_s(lease_left_ms=60_000)) is not None:
        total += pause
    assert total == pytest.approx((left_ms - LAMBDA_RESERVE_MS) / 1000)
    assert Waiting(60_000, budget_ms=LAMBDA_LEASE_GRACE_MS).pause_s(60_000) is None


def test_without_wait_a_duplicate_is_refused_at_once() -> None:
    """The default: InProgressError on the claim's answer, no read, no pause."""
    store, first = MemoryStore(), First()
    handler = charge(store, first)
    thread, _ = in_thread(lambda: handler("o-1"))
    assert first.started.wait(JOIN_S)
    with pytest.raises(InProgressError):
        idempotent(lambda order_id: order_id, store=store, namespace="orders")(first)("o-1")
    assert store.calls["get"] == 0
    first.finish.set()
    thread.join(JOIN_S)


def test_on_dynamodb_a_waiter_sends_one_claim_then_only_reads(
    dynamodb: DynamoDBStore, dynamodb_local: str, started_first: list[threading.Thread]
) -> None:
    """Counted on the waiter's own client: one UpdateItem (its claim), then GetItems only,
    until the first call completes; the holder is let go after the waiter's third read."""
    first = First()
    holder = idempotent(lambda order_id: order_id, store=dynamodb, namespace="orders")(first)
    thread, _ = in_thread(lambda: holder("o-1"))
    started_first.append(thread)
    assert first.started.wait(JOIN_S)
    waiter_store = DynamoDBStore(dynamodb.table_name, client=make_client(dynamodb_local))
    trips = RoundTrips()

    def let_go_after_three_reads(request: Any, **_: Any) -> None:
        trips.on_send(request)
        if trips.operations.count("GetItem") == 3:
            first.finish.set()

    waiter = idempotent(lambda order_id: order_id, store=waiter_store, namespace="orders", wait=60)(
        first
    )
    client = waiter_store.client
    client.meta.events.register("before-send.dynamodb", let_go_after_three_reads)
    try:
        assert waiter("o-1") == {"charged": "by the first"}
    finally:
        client.meta.events.unregister("before-send.dynamodb", let_go_after_three_reads)

    assert trips.operations[0] == "UpdateItem"
    assert set(trips.operations[1:]) == {"GetItem"}
    assert len(trips.operations) >= 4
    assert first.runs == ["o-1"]
