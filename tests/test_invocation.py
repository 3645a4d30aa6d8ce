"""Unit tests for :mod:`idemlock._invocation`: the invocation's deadline reaches inner calls.

An ``@idempotent`` function called without the Lambda context gets the invocation's deadline
(its lease capped by the remaining time plus the grace) when an outer idemlock-decorated handler
that was passed the context is running, or inside ``with idemlock.lambda_context(context):``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import idemlock
from idemlock import current_lock, idempotent, idempotent_http, idempotent_records, lambda_context
from idemlock.errors import ConfigurationError
from idemlock.lock import LAMBDA_LEASE_GRACE_MS
from idemlock.testing import LambdaContext, ManualClock, MemoryStore
from tests.batch_events import sqs_event
from tests.http_events import http_event

REMAINING_MS = 5_000
"""What the invocation has left: far below the inner function's own lease= (10 minutes)."""


class Inner:
    """An inner ``@idempotent`` function (never passed the context) and the leases it saw."""

    def __init__(self, clock: ManualClock) -> None:
        self.now_ms = int(clock() * 1000)
        self.leases_ms: list[int] = []
        store = MemoryStore()
        self.call = idempotent(str, store=store, clock=clock, lease=600)(self._body)
        self.call_async = idempotent(str, store=store, clock=clock, lease=600)(self._body_async)

    def _body(self, n: object) -> None:
        lock = current_lock()
        assert lock is not None
        self.leases_ms.append(lock.lease_expires_at_ms - self.now_ms)

    async def _body_async(self, n: object) -> None:
        await asyncio.sleep(0)
        self._body(n)


CAPPED = REMAINING_MS + LAMBDA_LEASE_GRACE_MS
UNCAPPED = 600_000


@pytest.fixture
def inner(clock: ManualClock) -> Inner:
    return Inner(clock)


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext(remaining_ms=REMAINING_MS)


def test_alone_the_inner_function_has_its_own_lease(inner: Inner) -> None:
    """Without an outer handler or a lambda_context block: lease= as given (no deadline)."""
    inner.call(1)
    assert inner.leases_ms == [UNCAPPED]


def test_inside_lambda_context_the_lease_is_capped_by_the_deadline(
    inner: Inner, context: LambdaContext
) -> None:
    """Inside the block the lease is the remaining time plus the grace; after it, lease= again."""
    with lambda_context(context):
        inner.call(1)
    inner.call(2)
    assert inner.leases_ms == [CAPPED, UNCAPPED]


def test_inside_an_outer_idempotent_handler(
    inner: Inner, context: LambdaContext, clock: ManualClock
) -> None:
    """An outer @idempotent handler passed the context gives it to what its body calls."""

    @idempotent(lambda event, context: event["id"], store=MemoryStore(), clock=clock)
    def handler(event: dict[str, str], context: object) -> None:
        inner.call(event["id"])

    handler({"id": "a"}, context)
    assert inner.leases_ms == [CAPPED]


def test_an_outer_handler_running_unprotected_still_gives_its_deadline(
    inner: Inner, context: LambdaContext, clock: ManualClock
) -> None:
    """on_missing_key="run": the outer runs without a lock, its inner calls still see the
    deadline."""

    @idempotent(
        lambda event, context: event.get("id"),
        store=MemoryStore(),
        clock=clock,
        on_missing_key="run",
    )
    def handler(event: dict[str, str], context: object) -> None:
        inner.call("x")

    handler({}, context)
    assert inner.leases_ms == [CAPPED]


def test_inside_an_outer_records_handler(
    inner: Inner, context: LambdaContext, clock: ManualClock
) -> None:
    """Each record's body of an @idempotent_records handler passes the deadline on."""

    @idempotent_records(store=MemoryStore(), clock=clock)
    def handle(record: dict[str, Any], context: object) -> None:
        inner.call(json.loads(record["body"])["n"])

    assert handle(sqs_event(2), context) == {"batchItemFailures": []}
    assert inner.leases_ms == [CAPPED, CAPPED]


def test_inside_an_outer_http_handler(
    inner: Inner, context: LambdaContext, clock: ManualClock
) -> None:
    """idempotent_http passes the deadline on, protected request or not (a GET runs as is)."""

    @idempotent_http(store=MemoryStore(), clock=clock)
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        inner.call(len(inner.leases_ms))
        return {"statusCode": 200, "body": "{}"}

    handler(http_event("rest"), context)
    handler(http_event("rest", method="GET", key=None), context)
    assert inner.leases_ms == [CAPPED, CAPPED]


def test_nested_async_calls_and_their_tasks_get_the_deadline(
    inner: Inner, context: LambdaContext, clock: ManualClock
) -> None:
    """An async outer handler: an awaited inner call and inner calls in tasks it starts (they
    copy the context) are capped; the block does not leak out of the handler."""

    @idempotent(lambda event, context: event["id"], store=MemoryStore(), clock=clock)
    async def handler(event: dict[str, str], context: object) -> None:
        await inner.call_async("awaited")
        await asyncio.gather(inner.call_async("task-1"), inner.call_async("task-2"))

    async def main() -> None:
        await handler({"id": "a"}, context)
        await inner.call_async("after")

    asyncio.run(main())
    assert inner.leases_ms == [CAPPED, CAPPED, CAPPED, UNCAPPED]


def test_the_inner_call_reads_the_remaining_time_when_it_starts(
    inner: Inner, clock: ManualClock
) -> None:
    """The deadline is read at the inner call, not when the outer one started."""
    context = LambdaContext(remaining_ms=REMAINING_MS)

    @idempotent(lambda event, context: event["id"], store=MemoryStore(), clock=clock)
    def handler(event: dict[str, str], context: LambdaContext) -> None:
        context.remaining_ms = 1_000
        inner.call("later")

    handler({"id": "a"}, context)
    assert inner.leases_ms == [1_000 + LAMBDA_LEASE_GRACE_MS]


def test_a_context_passed_to_the_inner_call_wins(inner: Inner, clock: ManualClock) -> None:
    """An inner function passed its own context reads that one, not the outer block's."""
    own = LambdaContext(remaining_ms=1_000)
    seen: list[int] = []

    @idempotent(lambda n, context: str(n), store=MemoryStore(), clock=clock, lease=600)
    def passed(n: int, context: object) -> None:
        lock = current_lock()
        assert lock is not None
        seen.append(lock.lease_expires_at_ms - inner.now_ms)

    with lambda_context(LambdaContext(remaining_ms=REMAINING_MS)):
        passed(1, own)
    assert seen == [1_000 + LAMBDA_LEASE_GRACE_MS]


@pytest.mark.parametrize("value", [None, object(), "context", LambdaContext.__init__])
def test_lambda_context_refuses_what_is_not_a_context(value: object) -> None:
    """Anything without get_remaining_time_in_millis() is a ConfigurationError naming its type."""
    expected = "lambda_context\\(\\) takes the Lambda context"
    with pytest.raises(ConfigurationError, match=expected), lambda_context(value):
        pass


def test_lambda_context_is_exported() -> None:
    """idemlock.lambda_context is the public name."""
    assert idemlock.lambda_context is lambda_context
    assert "lambda_context" in idemlock.__all__
