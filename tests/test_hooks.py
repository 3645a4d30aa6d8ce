"""``on_replay=`` and the warnings that keep unprotected runs from going unnoticed (issue 25 §5).

``on_replay(value, item)`` decides what a duplicate returns, whether it was answered by the store
or by the local cache; on MemoryStore and on DynamoDB Local. ``on_missing_key="run"`` and
``IDEMLOCK_DISABLED`` inside Lambda log a WARNING on the ``idemlock`` logger.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

import idemlock._options
from idemlock import LockItem, LockStatus, idempotent, idempotent_http, idempotent_records
from idemlock.batch import RecordStatus
from idemlock.errors import ConfigurationError
from idemlock.http import REPLAYED_HEADER
from idemlock.store import LockStore
from idemlock.testing import ManualClock, MemoryStore
from tests.aws import fresh_table
from tests.batch_events import sqs_event
from tests.http_events import http_event, response_headers


@pytest.fixture(params=["memory", pytest.param("dynamodb-local", marks=pytest.mark.servers)])
def store(request: pytest.FixtureRequest) -> LockStore:
    """A fresh store: MemoryStore, or a new table on DynamoDB Local."""
    if request.param == "memory":
        return MemoryStore()
    return fresh_table(request.getfixturevalue("dynamodb_local"))


class Hook:
    """An ``on_replay`` that records its calls and marks the value it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, LockItem]] = []

    def __call__(self, value: Any, item: LockItem) -> dict[str, Any]:
        self.calls.append((value, item))
        return {"replayed": value}


# -- on_replay on @idempotent ---------------------------------------------------------------------


def test_on_replay_makes_what_a_duplicate_returns(store: LockStore, clock: ManualClock) -> None:
    """The first call returns the body's value (no hook); a duplicate returns the hook's value,
    made of the stored value and the completed item the store holds."""
    hook = Hook()
    runs: list[str] = []

    @idempotent(lambda order: order, store=store, clock=clock, namespace="n", on_replay=hook)
    def charge(order: str) -> object:  # a dict; a replay, what the hook makes of it
        runs.append(order)
        return {"charged": 10}

    assert charge("o-1") == {"charged": 10}
    assert hook.calls == []
    assert charge("o-1") == {"replayed": {"charged": 10}}
    assert runs == ["o-1"]
    [(value, item)] = hook.calls
    assert value == {"charged": 10}
    assert item == store.get("n#o-1")
    assert item.status is LockStatus.COMPLETED
    assert json.loads(item.result or "null") == {"charged": 10}


def test_on_replay_from_the_local_cache_gets_the_item_as_the_container_knew_it(
    clock: ManualClock,
) -> None:
    """A duplicate answered by the local cache (no store call) goes through the hook too; its
    item is the one this container's own complete wrote: status, fence, attempts, result."""
    store = MemoryStore()
    hook = Hook()
    fences: list[int] = []

    @idempotent(
        lambda order: order, store=store, clock=clock, namespace="n", local_cache=8, on_replay=hook
    )
    def charge(order: str) -> object:
        lock = idemlock.current_lock()
        assert lock is not None
        fences.append(lock.fence)
        return 10

    charge("o-1")
    stored = store.get("n#o-1")
    store.clear()  # a replay that read the store would now run the body again
    assert charge("o-1") == {"replayed": 10}
    [(value, item)] = hook.calls
    assert value == 10
    assert item.status is LockStatus.COMPLETED
    assert (item.key, item.fence, item.attempts, item.result) == ("n#o-1", fences[0], 1, "10")
    assert stored is not None
    assert (item.owner, item.completed_at_ms, item.expires_at_s) == (
        stored.owner,
        stored.completed_at_ms,
        stored.expires_at_s,
    )


def test_a_cached_replay_of_a_key_another_container_completed_gets_the_item_it_read(
    clock: ManualClock,
) -> None:
    """A key completed elsewhere: the claim reads the item (first replay), the cache keeps it,
    and the second replay, from the cache, hands the hook that same item."""
    store = MemoryStore()
    hook = Hook()

    @idempotent(lambda order: order, store=store, clock=clock, namespace="n")
    def elsewhere(order: str) -> str:
        return "done"

    @idempotent(
        lambda order: order, store=store, clock=clock, namespace="n", local_cache=8, on_replay=hook
    )
    def here(order: str) -> object:
        raise AssertionError("a completed key must not run again")

    elsewhere("o-1")
    assert here("o-1") == {"replayed": "done"}
    store.clear()
    assert here("o-1") == {"replayed": "done"}
    first, second = hook.calls
    assert first == second
    assert first[1].result == '"done"'


def test_on_replay_without_a_stored_result_gets_none_and_the_item(clock: ManualClock) -> None:
    """With store_result=False the hook still runs on a duplicate: value None, the item."""
    store = MemoryStore()
    hook = Hook()
    charge = idempotent(
        lambda order: order, store=store, clock=clock, store_result=False, on_replay=hook
    )(lambda order: 10)
    assert charge("o-1") == 10
    assert charge("o-1") == {"replayed": None}  # type: ignore[comparison-overlap]
    [(value, item)] = hook.calls
    assert value is None
    assert item.result is None
    assert item.status is LockStatus.COMPLETED


def test_a_raising_on_replay_propagates_unchanged_and_the_key_stays_completed(
    store: LockStore, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The hook's own exception reaches the caller as raised (a WARNING says the body did not
    run); the key stays COMPLETED and the body never runs again."""
    refused = ValueError("no replays today")
    runs: list[str] = []

    def hook(value: object, item: LockItem) -> object:
        raise refused

    @idempotent(lambda order: order, store=store, clock=clock, namespace="n", on_replay=hook)
    def charge(order: str) -> int:
        runs.append(order)
        return 10

    charge("o-1")
    with (
        caplog.at_level(logging.WARNING, logger="idemlock"),
        pytest.raises(ValueError, match="no replays today") as raised,
    ):
        charge("o-1")
    assert raised.value is refused
    assert runs == ["o-1"]
    item = store.get("n#o-1")
    assert item is not None
    assert item.status is LockStatus.COMPLETED
    assert any(
        "on_replay raised" in r.getMessage() and "n#o-1" in r.getMessage() for r in caplog.records
    )


def test_stop_iteration_from_on_replay_is_not_turned_into_runtime_error(
    clock: ManualClock,
) -> None:
    """A StopIteration raised by the hook comes back as StopIteration (not PEP 479's
    RuntimeError), cached replay or not."""

    def hook(value: object, item: LockItem) -> object:
        raise StopIteration("exhausted")

    for local_cache in (0, 8):
        charge = idempotent(
            lambda order: order,
            store=MemoryStore(),
            clock=clock,
            local_cache=local_cache,
            on_replay=hook,
        )(lambda order: 10)
        charge("o-1")
        with pytest.raises(StopIteration, match="exhausted"):
            charge("o-1")


def test_on_replay_on_an_async_function(store: LockStore, clock: ManualClock) -> None:
    """An ``async def``'s duplicate returns the hook's value too."""
    hook = Hook()

    @idempotent(lambda order: order, store=store, clock=clock, on_replay=hook)
    async def charge(order: str) -> object:
        await asyncio.sleep(0)
        return 10

    assert asyncio.run(charge("o-1")) == 10
    assert asyncio.run(charge("o-1")) == {"replayed": 10}
    assert len(hook.calls) == 1


def test_on_replay_must_be_callable() -> None:
    """A hook that is not callable is refused at decoration, naming the option."""
    with pytest.raises(ConfigurationError, match="on_replay must be callable"):
        idempotent(lambda order: order, store=MemoryStore(), on_replay="mark")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="on_replay must be callable"):
        idempotent_records(store=MemoryStore(), on_replay=42)  # type: ignore[arg-type]


# -- on_replay per record ------------------------------------------------------------------------


def test_on_replay_runs_per_replayed_record(store: LockStore, clock: ManualClock) -> None:
    """A redelivered batch: each replayed record's result is the hook's value for that record,
    called once per record with the record's stored value and its own item."""
    hook = Hook()

    @idempotent_records(store=store, clock=clock, namespace="q", on_replay=hook)
    def handle(record: dict[str, Any], context: object) -> int:
        return int(json.loads(record["body"])["n"])

    event = sqs_event(3)
    first = handle.process(event)
    assert [o.result for o in first.records] == [0, 1, 2]
    assert hook.calls == []
    again = handle.process(event)
    assert [o.status for o in again.records] == [RecordStatus.DUPLICATE] * 3
    assert [o.result for o in again.records] == [{"replayed": n} for n in range(3)]
    # Called as each record's claim comes back, so in any order.
    assert sorted((value, item.key) for value, item in hook.calls) == [
        (n, o.key) for n, o in enumerate(again.records)
    ]


def test_a_raising_on_replay_fails_only_its_record(store: LockStore, clock: ManualClock) -> None:
    """On SQS standard, the record whose hook raised is reported for a retry; the others
    replay; no body runs again."""
    runs: list[int] = []

    def hook(value: int, item: LockItem) -> int:
        if value == 1:
            raise ValueError("record 1 refused")
        return value

    @idempotent_records(store=store, clock=clock, on_replay=hook)
    def handle(record: dict[str, Any], context: object) -> int:
        runs.append(int(json.loads(record["body"])["n"]))
        return runs[-1]

    event = sqs_event(3)
    handle(event, None)
    assert handle(event, None) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert runs == [0, 1, 2]


# -- on_replay over HTTP -------------------------------------------------------------------------


def test_on_replay_shapes_a_replayed_http_response(clock: ManualClock) -> None:
    """idempotent_http passes on_replay through: the hook sees the stored response, and what it
    returns is marked Idempotent-Replayed as any replay is."""

    def mark(response: dict[str, Any], item: LockItem) -> dict[str, Any]:
        return {**response, "headers": {**response.get("headers", {}), "X-From": "replay"}}

    @idempotent_http(store=MemoryStore(), clock=clock, on_replay=mark)
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"statusCode": 201, "headers": {"X-Order": "1"}, "body": "{}"}

    event = http_event("rest")
    first = handler(event, None)
    assert REPLAYED_HEADER not in response_headers(first)
    replay = handler(event, None)
    headers = response_headers(replay)
    assert (headers["x-from"], headers["x-order"], headers[REPLAYED_HEADER.lower()]) == (
        "replay",
        "1",
        "true",
    )


# -- nothing silent ------------------------------------------------------------------------------


def test_on_missing_key_run_warns_with_the_function_name_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each call run unprotected for want of a key logs a WARNING naming the function."""
    runs: list[object] = []

    @idempotent(lambda event: event.get("id"), store=MemoryStore(), on_missing_key="run")
    def handler(event: dict[str, Any]) -> None:
        runs.append(event)

    with caplog.at_level(logging.WARNING, logger="idemlock"):
        handler({})
        handler({})
        handler({"id": "a"})  # protected: no warning
    warnings = [r for r in caplog.records if "runs unprotected" in r.getMessage()]
    assert len(runs) == 3
    assert len(warnings) == 2
    for record in warnings:
        assert record.levelno == logging.WARNING
        assert record.name == "idemlock"
        assert "handler" in record.getMessage()
        assert getattr(record, "idemlock_function", "").endswith("handler")


@pytest.fixture
def untold(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that has not yet been told idemlock is disabled inside Lambda."""
    monkeypatch.setattr(idemlock._options, "_told_disabled_in_lambda", False)
    monkeypatch.setenv("IDEMLOCK_DISABLED", "1")


@pytest.mark.usefixtures("untold")
def test_disabled_inside_lambda_warns_once_per_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """IDEMLOCK_DISABLED with AWS_LAMBDA_FUNCTION_NAME set: one WARNING for the whole process,
    however many calls and functions follow, naming the variable and the function."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders-prod")
    first = idempotent(lambda order: order, store=MemoryStore(), namespace="first")(
        lambda order: order
    )
    second = idempotent_records(store=MemoryStore(), namespace="second")(
        lambda record, context: None
    )
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        first("a")
        first("a")
        second(sqs_event(2), None)
    told = [r for r in caplog.records if "IDEMLOCK_DISABLED" in r.getMessage()]
    assert len(told) == 1
    assert told[0].levelno == logging.WARNING
    assert "orders-prod" in told[0].getMessage()


@pytest.mark.usefixtures("untold")
def test_disabled_outside_lambda_is_not_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside Lambda (tests, local runs) IDEMLOCK_DISABLED is what it is for: no warning;
    nor does an explicit disabled=True inside Lambda warn."""
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        idempotent(lambda order: order, store=MemoryStore(), namespace="a")(lambda order: order)(
            "a"
        )
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders-prod")
        monkeypatch.delenv("IDEMLOCK_DISABLED")
        idempotent(lambda order: order, store=MemoryStore(), namespace="b", disabled=True)(
            lambda o: o
        )("a")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
