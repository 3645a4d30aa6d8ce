"""The Lambda handler (``http_orders.handler.handler``): ``POST /orders``, each order made once.

An HTTP API (payload format 2.0) with a JWT authorizer routes ``POST /orders`` here, with a JSON
body ``{"item": "book", "quantity": 2}`` and an ``Idempotency-Key`` header the client chose. The
handler writes a new order (a fresh ``order_id``) for the customer the token names (its ``sub``)
and answers 201 with the order.

A client that times out and retries sends the same key: ``@idempotent_http`` answers the retry
with the stored 201 (marked ``Idempotent-Replayed: true``) instead of making a second order; a
retry that arrives while the first still runs gets 409 with ``Retry-After``; the key reused for
another body gets 422. Keys are scoped by the token's issuer and subject, so two customers who
pick the same key each get their own order. A request the handler refuses (400: not an order)
is stored and replayed too: the same request gets the same answer. A DynamoDB failure raises, so
the key is freed and the client's retry makes the order.

Configuration (the environment, as deployed): ``IDEMLOCK_TABLE`` (the lock table) and
``ORDERS_TABLE``. The DynamoDB client is made on first use, so ``AWS_ENDPOINT_URL_DYNAMODB`` set by
a test or a local run is honoured.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

import boto3

from idemlock import idempotent_http

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NAMESPACE: Final = "create-order"
"""Prefix of this function's keys in the lock table; fixed, so a refactoring keeps them."""

ORDERS_TABLE_ENV: Final = "ORDERS_TABLE"
"""The environment variable naming the orders table."""

ORDERS_TABLE_ACTIONS: Final = ("dynamodb:PutItem",)
"""Everything this module does to the orders table: the function's role needs exactly this."""


@functools.cache
def dynamodb() -> DynamoDBClient:
    """The DynamoDB client, made on first use and kept for the warm container's later calls."""
    return boto3.client("dynamodb")


@idempotent_http(namespace=NAMESPACE)
def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Create the order in the request's body for the token's customer; 201 with the order."""
    order = _order_in(event.get("body"))
    if isinstance(order, str):
        return _json(400, {"error": order})
    customer = _customer(event)
    created = {
        "order_id": uuid.uuid4().hex,
        "customer": customer,
        "created_at": datetime.now(timezone.utc).isoformat(),
        **order,
    }
    dynamodb().put_item(
        TableName=os.environ[ORDERS_TABLE_ENV],
        Item={
            "order_id": {"S": created["order_id"]},
            "customer": {"S": customer},
            "item": {"S": order["item"]},
            "quantity": {"N": str(order["quantity"])},
            "created_at": {"S": created["created_at"]},
        },
        # A fresh id never exists; the condition keeps a stray reuse from overwriting an order.
        ConditionExpression="attribute_not_exists(order_id)",
    )
    response = _json(201, created)
    response["headers"]["Location"] = f"/orders/{created['order_id']}"
    return response


def _customer(event: Mapping[str, Any]) -> str:
    """The token's subject: the customer. The route has a JWT authorizer, so it is always there."""
    authorizer = event.get("requestContext", {}).get("authorizer") or {}
    subject = authorizer.get("jwt", {}).get("claims", {}).get("sub")
    if not isinstance(subject, str) or not subject:
        # A deployment without the authorizer: refuse rather than make anonymous orders.
        raise RuntimeError("POST /orders arrived without a JWT authorizer's sub claim")
    return subject


def _order_in(body: object) -> dict[str, Any] | str:
    """The order in a JSON body, or what is wrong with the body."""
    try:
        fields = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return 'the body must be a JSON object: {"item": "book", "quantity": 2}'
    item, quantity = fields.get("item"), fields.get("quantity")
    if not isinstance(item, str) or not item:
        return "item must be a non-empty string"
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        return "quantity must be a whole number of at least 1"
    return {"item": item, "quantity": quantity}


def _json(status: int, body: object) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
