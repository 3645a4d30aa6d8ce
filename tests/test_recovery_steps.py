"""``idemlock.step()``: recovery points that survive a failure and a takeover, on MemoryStore
and on DynamoDB Local."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest

import idemlock
from idemlock import DynamoDBStore, idempotent, idempotent_records
from idemlock.errors import (
    InProgressError,
    LockLostError,
    ResultNotStoredError,
    StepError,
    StoreError,
    UnstorableResultError,
)
from idemlock.events import LockEvent
from idemlock.item import LockStatus
from idemlock.store import LockStore
from idemlock.testing import LambdaContext, ManualClock, MemoryStore
from tests.aws import fresh_table
from tests.batch_events import sqs_event
from tests.cli_helpers import Run, as_json


@pytest.fixture(params=["memory", pytest.param("dynamodb-local", marks=pytest.mark.servers)])
def lock_store(request: pytest.FixtureRequest) -> LockStore:
    """Each test on MemoryStore and on a fresh table of DynamoDB Local."""
    if request.param == "memory":
        return MemoryStore()
    endpoint: str = request.getfixturevalue("dynamodb_local")
    return fresh_table(endpoint)


class Shop:
    """The side effects of a checkout, counted: cards charged and receipts sent."""

    def __init__(self) -> None:
        self.charges: list[str] = []
        self.receipts: list[str] = []
        self.fail_email = 0

    def charge_card(self, order: dict[str, Any]) -> str:
        self.charges.append(order["id"])
        return f"ch_{order['id']}_{len(self.charges)}"

    def send_receipt(self, order: dict[str, Any], charge_id: str) -> None:
        if self.fail_email:
            self.fail_email -= 1
            raise ConnectionError("mail server down")
        self.receipts.append(charge_id)


def checkout_on(
    store: LockStore, shop: Shop, clock: Callable[[], float], **options: Any
) -> Callable[[dict[str, Any]], str]:
    @idempotent(lambda order: order["id"], store=store, namespace="shop", clock=clock, **options)
    def checkout(order: dict[str, Any]) -> str:
        charge_id = idemlock.step("charge", shop.charge_card, order)
        idemlock.step("email", shop.send_receipt, order, charge_id)
        return charge_id

    return checkout


def test_a_failure_after_a_step_keeps_it_and_the_retry_replays_it(lock_store: LockStore) -> None:
    """The email fails after the card was charged: the retry does not charge again."""
    store = lock_store
    shop, clock, events = Shop(), ManualClock(), list[LockEvent]()
    shop.fail_email = 1
    checkout = checkout_on(store, shop, clock, on_event=events.append)

    with pytest.raises(ConnectionError):
        checkout({"id": "o-1"})
    failed = store.get("shop#o-1")
    assert failed is not None
    assert failed.status is LockStatus.IN_PROGRESS
    assert failed.released_at_ms == int(clock() * 1000)
    assert dict(failed.steps) == {"charge": '"ch_o-1_1"'}
    assert failed.is_free_at(int(clock() * 1000))

    assert checkout({"id": "o-1"}) == "ch_o-1_1"

    assert shop.charges == ["o-1"]
    assert shop.receipts == ["ch_o-1_1"]
    done = store.get("shop#o-1")
    assert done is not None
    assert (done.status, done.steps, done.released_at_ms) == (LockStatus.COMPLETED, (), None)
    kinds = [event.kind for event in events]
    assert kinds == [
        "claimed",
        "step_recorded",
        "released",
        "claimed",  # a failure freed the key: a fresh claim, not a takeover
        "step_replayed",
        "step_recorded",
        "completed",
    ]


def test_a_takeover_resumes_after_the_last_step_and_the_stale_owner_is_refused(
    lock_store: LockStore,
) -> None:
    """The first run's lease runs out after its charge; the next run replays the charge and
    completes; the first run's next step write raises LockLostError."""
    store = lock_store
    shop, clock = Shop(), ManualClock()
    seen: list[object] = []
    stalled: list[bool] = []

    @idempotent(lambda order: order["id"], store=store, namespace="shop", clock=clock, lease=30)
    def checkout(order: dict[str, Any]) -> str:
        charge_id = idemlock.step("charge", shop.charge_card, order)
        if not stalled:  # the first run stalls past its lease; a redelivery takes over
            stalled.append(True)
            clock.advance(31)
            seen.append(checkout(order))
        idemlock.step("email", shop.send_receipt, order, charge_id)
        return charge_id

    with pytest.raises(LockLostError):
        checkout({"id": "o-1"})

    assert seen == ["ch_o-1_1"]
    assert shop.charges == ["o-1"]
    # The run that took over sent it; the stale run's step ran too before its record was
    # refused: a step records, it does not fence (current_lock().fence does).
    assert shop.receipts == ["ch_o-1_1", "ch_o-1_1"]
    item = store.get("shop#o-1")
    assert item is not None
    assert (item.status, item.result) == (LockStatus.COMPLETED, '"ch_o-1_1"')


def test_steps_in_a_batch_record_handler_survive_its_failure(lock_store: LockStore) -> None:
    """A record whose handler fails after a step is retried with the step replayed."""
    store = lock_store
    shop = Shop()
    shop.fail_email = 1

    @idempotent_records(store=store, namespace="queue")
    def handle(record: dict[str, Any], context: object) -> None:
        order = {"id": record["messageId"]}
        charge_id = idemlock.step("charge", shop.charge_card, order)
        idemlock.step("email", shop.send_receipt, order, charge_id)

    event = sqs_event(1)
    assert handle(event, LambdaContext()) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert handle(event, LambdaContext()) == {"batchItemFailures": []}

    assert shop.charges == ["m-0"]
    assert shop.receipts == ["ch_m-0_1"]


def test_async_steps_replay_after_a_failure(lock_store: LockStore) -> None:
    """``await idemlock.step_async(...)`` with sync and async functions, replayed on retry."""
    store = lock_store
    shop, clock = Shop(), ManualClock()
    shop.fail_email = 1

    async def charge_card(order: dict[str, Any]) -> str:
        return shop.charge_card(order)

    @idempotent(lambda order: order["id"], store=store, namespace="shop", clock=clock)
    async def checkout(order: dict[str, Any]) -> str:
        charge_id: str = await idemlock.step_async("charge", charge_card, order)
        await idemlock.step_async("email", shop.send_receipt, order, charge_id)
        return charge_id

    with pytest.raises(ConnectionError):
        asyncio.run(checkout({"id": "o-1"}))
    assert asyncio.run(checkout({"id": "o-1"})) == "ch_o-1_1"

    assert shop.charges == ["o-1"]
    assert shop.receipts == ["ch_o-1_1"]


class StepRecordsThrottled:
    """A store whose first ``failures`` step records fail as a throttled call does after
    botocore's every retry (the write not applied)."""

    def __init__(self, inner: LockStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def record_steps(self, key: str, owner: str, **record: Any) -> bool:
        if self.failures:
            self.failures -= 1
            raise StoreError("throttled through every retry", operation="record_steps", key=key)
        return bool(self.inner.record_steps(key, owner, **record))


def test_a_step_record_that_fails_once_is_sent_again(lock_store: LockStore) -> None:
    """One throttled record of the charge: sent again, the checkout completes, one charge
    (before the fix, the step raised StoreError, the key was released and the retry charged
    the card again: simulation seeds 0, 1, 2 of ``recovery``)."""
    store = StepRecordsThrottled(lock_store, failures=1)
    shop, clock = Shop(), ManualClock()
    checkout = checkout_on(cast(LockStore, store), shop, clock)

    assert checkout({"id": "o-1"}) == "ch_o-1_1"
    assert checkout({"id": "o-1"}) == "ch_o-1_1"
    assert shop.charges == ["o-1"]


def test_a_step_that_ran_unrecorded_keeps_its_key_until_the_lease_ends(
    lock_store: LockStore,
) -> None:
    """The charge's record fails through every attempt: the call raises StoreError, and the
    key stays held by its lease (as after a complete that could not be written), so that a
    retry does not charge again at once; after the lease, a redelivery takes over."""
    store = StepRecordsThrottled(lock_store, failures=1_000)
    shop, clock = Shop(), ManualClock()
    checkout = checkout_on(cast(LockStore, store), shop, clock, lease=30)

    with pytest.raises(StoreError):
        checkout({"id": "o-1"})
    held = lock_store.get("shop#o-1")
    assert held is not None
    assert (held.status, held.released_at_ms, held.steps) == (LockStatus.IN_PROGRESS, None, ())
    with pytest.raises(InProgressError):
        checkout({"id": "o-1"})
    assert shop.charges == ["o-1"]

    store.failures = 0
    clock.advance(31)  # the lease is over: what the first run did is not known, run again
    assert checkout({"id": "o-1"}) == "ch_o-1_2"


def test_step_results_replay_as_results_do() -> None:
    """Falsy and nested JSON values replay exactly; an unstorable one fails the body."""
    store, clock, calls = MemoryStore(), ManualClock(), list[str]()
    failed: list[bool] = []
    values: dict[str, object] = {"zero": 0, "empty": "", "none": None, "nested": {"a": [1, None]}}

    @idempotent(lambda key: key, store=store, namespace="v", clock=clock)
    def body(key: str) -> dict[str, object]:
        def value_of(name: str) -> object:
            calls.append(name)
            return values[name]

        got = {name: idemlock.step(name, value_of, name) for name in values}
        if not failed:
            failed.append(True)
            raise RuntimeError("fail once, after every step")
        return got

    with pytest.raises(RuntimeError):
        body("k")
    assert body("k") == values
    assert len(calls) == len(values)

    @idempotent(lambda key: key, store=store, namespace="unstorable", clock=clock)
    def unstorable(key: str) -> None:
        idemlock.step("set", object)

    with pytest.raises(UnstorableResultError):
        unstorable("k")


def test_a_step_whose_result_cannot_be_stored_never_runs_again(lock_store: LockStore) -> None:
    """The charge ran but returned what cannot be stored: the call fails, and the step is
    recorded as ran without its result, so a retry raises ResultNotStoredError naming why and
    does not charge again (before: the key was freed with nothing recorded, and the retry ran
    the step again: a second charge)."""
    charges: list[str] = []

    def charge(order_id: str) -> object:
        charges.append(order_id)
        return object()  # not JSON: cannot be stored

    @idempotent(lambda order_id: order_id, store=lock_store, namespace="shop", clock=ManualClock())
    def checkout(order_id: str) -> str:
        idemlock.step("charge", charge, order_id)
        return "done"

    with pytest.raises(UnstorableResultError) as first:
        checkout("o-1")
    assert not isinstance(first.value, ResultNotStoredError)
    with pytest.raises(ResultNotStoredError) as retried:
        checkout("o-1")
    assert "charge" in str(retried.value)
    assert charges == ["o-1"]


def test_misused_steps_raise_step_error() -> None:
    """Outside a body, a name used twice in one run, an awaitable from step(): StepError."""
    with pytest.raises(StepError, match="outside an idempotent body"):
        idemlock.step("charge", lambda: 1)
    store = MemoryStore()

    @idempotent(lambda key: key, store=store, namespace="misuse")
    def twice(key: str) -> None:
        idemlock.step("charge", lambda: 1)
        idemlock.step("charge", lambda: 2)

    with pytest.raises(StepError, match="give each step"):
        twice("k")

    async def coroutine() -> int:
        return 1

    @idempotent(lambda key: key, store=store, namespace="misuse-async")
    def awaitable(key: str) -> None:
        idemlock.step("charge", coroutine)  # type: ignore[unused-coroutine]

    with pytest.raises(StepError, match="step_async"):
        awaitable("k")
    assert store.get("misuse-async#k") is None  # no step recorded: the failure deleted it
    kept = store.get("misuse#k")
    assert kept is not None
    assert kept.steps == (("charge", "1"),)  # the first "charge" was recorded


def test_a_freed_key_with_steps_is_not_an_unknown_outcome_under_refuse(
    lock_store: LockStore,
) -> None:
    """A body that failed with steps freed its key: refuse runs it again, it is no lapse."""
    store = lock_store
    shop, clock = Shop(), ManualClock()
    shop.fail_email = 1
    checkout = checkout_on(store, shop, clock, on_lease_expired="refuse")

    with pytest.raises(ConnectionError):
        checkout({"id": "o-1"})
    assert checkout({"id": "o-1"}) == "ch_o-1_1"
    assert shop.charges == ["o-1"]


def test_show_and_ls_tell_the_kept_steps(store: DynamoDBStore, idemlock: Run) -> None:
    """``idemlock show`` lists the steps of a failed run; ``ls`` marks the item. Neither tells a
    lease: the failure freed the key (not a lease that ended in 1970, the stored 0)."""
    shop = Shop()
    shop.fail_email = 1
    with pytest.raises(ConnectionError):
        checkout_on(store, shop, ManualClock())({"id": "o-1"})

    shown = idemlock("show", "shop#o-1")
    listed = as_json(idemlock("ls", "--output", "json"))
    table = idemlock("ls")

    assert shown.returncode == 0, shown.stderr
    assert 'step charge    "ch_o-1_1"' in shown.stdout
    assert "free; its retry replays the steps" in shown.stdout
    assert listed[0]["steps"] == {"charge": "ch_o-1_1"}
    assert listed[0]["stale"] is False
    assert "(failed; steps kept)" in table.stdout
    assert "lease" not in shown.stdout
    assert listed[0]["lease_left_s"] is None
    (row,) = [line for line in table.stdout.splitlines() if "shop#o-1" in line]
    assert " ago " not in row
