"""http_orders on DynamoDB Local: each order made once, whatever the client retries.

The lock table and the orders table are on DynamoDB Local; the events are HTTP API (payload 2.0)
requests built on aws-lambda-go's public sample event with a JWT authorizer
(tests/events/http/http-api-jwt.json, see its README). Failures and pauses are injected into the
handler's own DynamoDB client, at the order write.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

import http_orders.handler as app
from idemlock import DynamoDBStore
from idemlock.testing import LambdaContext
from tests.aws import create_app_table, fresh_table, make_client, use_local_aws
from tests.http_events import as_caller, http_event, response_headers

PUT_ORDER = "before-parameter-build.dynamodb.PutItem"
"""The botocore event before the handler's order write, where the tests inject trouble."""

KEY = '"5f0c1a52-4b7e-4a7a-9d55-2f3f1c8e6a10"'


@dataclass
class Tables:
    """The tables of one test, on DynamoDB Local, and a client to look at them."""

    client: Any
    locks: DynamoDBStore
    orders: str

    def orders_of(self, customer: str) -> list[dict[str, Any]]:
        items = self.client.scan(TableName=self.orders, ConsistentRead=True)["Items"]
        return [item for item in items if item["customer"]["S"] == customer]


@pytest.fixture
def tables(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tables]:
    """A fresh lock table and orders table; the handler configured for them."""
    use_local_aws(monkeypatch, dynamodb_local)
    monkeypatch.delenv("IDEMLOCK_DISABLED", raising=False)
    client = make_client(dynamodb_local)
    orders = create_app_table(client, "orders", "order_id")  # as template.yaml declares it
    locks = fresh_table(dynamodb_local)
    monkeypatch.setenv("IDEMLOCK_TABLE", locks.table_name)
    monkeypatch.setenv(app.ORDERS_TABLE_ENV, orders)
    app.dynamodb.cache_clear()  # a client made under this test's environment
    yield Tables(client, locks, orders)
    app.dynamodb.cache_clear()  # and none left behind, with this test's hooks


def post(body: object, *, customer: str = "alice", key: str | None = KEY) -> dict[str, Any]:
    """``POST /orders`` with ``body`` (JSON unless a str), as ``customer``'s token says."""
    text = body if isinstance(body, str) else json.dumps(body)
    event = as_caller(
        http_event("http-api", key=key, body=text, path="/orders"), "http-api", customer
    )
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /orders"
    return event


def on_put_order(hook: Callable[..., None]) -> None:
    """Run ``hook(params=...)`` before each order write of the handler."""
    app.dynamodb().meta.events.register(PUT_ORDER, hook)


def test_a_retried_post_makes_one_order_and_replays_its_201(tables: Tables) -> None:
    """The client's retry (same key, same body) gets the first 201, marked as a replay."""
    first = app.handler(post({"item": "book", "quantity": 2}), LambdaContext())
    retry = app.handler(post({"quantity": 2, "item": "book"}), LambdaContext())

    assert first["statusCode"] == 201
    created = json.loads(first["body"])
    assert (created["customer"], created["item"], created["quantity"]) == ("alice", "book", 2)
    assert retry["statusCode"] == 201
    assert json.loads(retry["body"])["order_id"] == created["order_id"]
    assert response_headers(retry)["idempotent-replayed"] == "true"
    assert response_headers(retry)["location"] == f"/orders/{created['order_id']}"
    assert len(tables.orders_of("alice")) == 1


def test_two_customers_with_the_same_key_each_get_their_own_order(tables: Tables) -> None:
    """The token's subject scopes the key: bob's request with alice's key is bob's order."""
    alice = app.handler(post({"item": "book", "quantity": 1}), LambdaContext())
    bob = app.handler(post({"item": "book", "quantity": 1}, customer="bob"), LambdaContext())

    assert json.loads(alice["body"])["order_id"] != json.loads(bob["body"])["order_id"]
    assert "idempotent-replayed" not in response_headers(bob)
    assert len(tables.orders_of("alice")) == len(tables.orders_of("bob")) == 1


def test_the_key_reused_for_another_order_gets_422(tables: Tables) -> None:
    """Same key, another body: 422 problem details; no second order."""
    app.handler(post({"item": "book", "quantity": 1}), LambdaContext())
    reused = app.handler(post({"item": "pen", "quantity": 9}), LambdaContext())

    assert reused["statusCode"] == 422
    assert response_headers(reused)["content-type"] == "application/problem+json"
    assert len(tables.orders_of("alice")) == 1


def test_a_request_without_key_gets_400_and_makes_nothing(tables: Tables) -> None:
    """POST /orders without an Idempotency-Key: 400; the handler does not run."""
    answer = app.handler(post({"item": "book", "quantity": 1}, key=None), LambdaContext())

    assert answer["statusCode"] == 400
    assert tables.orders_of("alice") == []


def test_the_handlers_own_400_is_stored_and_replayed(tables: Tables) -> None:
    """Not an order: the handler's 400 is the answer to that request, replayed to its retry."""
    first = app.handler(post({"item": "", "quantity": 0}), LambdaContext())
    retry = app.handler(post({"item": "", "quantity": 0}), LambdaContext())

    assert first["statusCode"] == retry["statusCode"] == 400
    assert "item must be" in first["body"]
    assert response_headers(retry)["idempotent-replayed"] == "true"
    assert tables.orders_of("alice") == []


def test_a_retry_while_the_first_still_runs_gets_409_then_the_replay(tables: Tables) -> None:
    """The first request's write is held; its retry gets 409 with a Retry-After no longer than
    the lease (10 s of the context plus 2 s); once the first finishes, the retry replays it."""
    writing, release = threading.Event(), threading.Event()

    def hold(**_: Any) -> None:
        writing.set()
        assert release.wait(timeout=60)

    on_put_order(hold)
    answers: list[dict[str, Any]] = []
    first = threading.Thread(
        target=lambda: answers.append(
            app.handler(post({"item": "book", "quantity": 1}), LambdaContext(remaining_ms=10_000))
        )
    )
    first.start()
    try:
        assert writing.wait(timeout=60)
        busy = app.handler(post({"item": "book", "quantity": 1}), LambdaContext())
    finally:
        release.set()
        first.join(timeout=60)

    assert busy["statusCode"] == 409
    assert 1 <= int(response_headers(busy)["retry-after"]) <= 12
    [created] = answers
    replay = app.handler(post({"item": "book", "quantity": 1}), LambdaContext())
    assert replay["body"] == created["body"]
    assert len(tables.orders_of("alice")) == 1


def test_a_failed_write_frees_the_key_and_the_retry_makes_the_order(tables: Tables) -> None:
    """DynamoDB throttles the first write: the exception propagates (API Gateway answers 502)
    and the key is freed; the client's retry makes exactly one order."""
    failed: list[int] = []

    def throttle_once(**_: Any) -> None:
        if not failed:
            failed.append(1)
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "PutItem"
            )

    on_put_order(throttle_once)
    with pytest.raises(ClientError, match="ThrottlingException"):
        app.handler(post({"item": "book", "quantity": 1}), LambdaContext())
    retry = app.handler(post({"item": "book", "quantity": 1}), LambdaContext())

    assert retry["statusCode"] == 201
    assert "idempotent-replayed" not in response_headers(retry)
    assert len(tables.orders_of("alice")) == 1


def test_a_request_without_the_authorizers_subject_makes_no_order(tables: Tables) -> None:
    """Deployed without its JWT authorizer, the function refuses (a 502) instead of making
    anonymous orders; the key is freed."""
    event = post({"item": "book", "quantity": 1})
    del event["requestContext"]["authorizer"]
    with pytest.raises(RuntimeError, match="without a JWT authorizer"):
        app.handler(event, LambdaContext())
    assert tables.client.scan(TableName=tables.orders)["Items"] == []
