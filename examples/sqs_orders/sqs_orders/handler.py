"""The Lambda handler (``sqs_orders.handler.handler``): charge each order once.

An SQS standard queue delivers order messages (``{"order_id": "o-1", "amount": 1200}``, the
amount in cents) in batches, at least once each. ``@idempotent_records`` charges every message of
a batch on its own: a message that fails is named in the partial batch response
(``ReportBatchItemFailures``), so SQS delivers only it again; the others are deleted from the
queue. A batch delivered again whole (after a timeout or a crash) charges only what did not
complete.

The key is the order's ID, not the SQS ``messageId``: SQS keeps the ``messageId`` across
redeliveries of one message, but a producer that retries its ``SendMessage`` sends a second
message, with a new ID, for the same order. Keyed by order, both are charged once.

The charge itself is conditioned on idemlock's fencing token (:func:`idemlock.current_lock`):
see :func:`charge`.

Configuration (the environment, as deployed): ``IDEMLOCK_TABLE`` (the lock table) and
``CHARGES_TABLE``. The DynamoDB client is made on first use, so ``AWS_ENDPOINT_URL_DYNAMODB`` set by
a test or a local run is honoured.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

import boto3

from idemlock import current_lock, idempotent_records
from idemlock.sources.sqs import SqsMessage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NAMESPACE: Final = "charge-orders"
"""Prefix of this function's keys in the lock table; fixed, so a refactoring keeps them."""

CHARGES_TABLE_ENV: Final = "CHARGES_TABLE"
"""The environment variable naming the charges table."""

CHARGES_TABLE_ACTIONS: Final = ("dynamodb:UpdateItem",)
"""Everything this module does to the charges table: the function's role needs exactly this."""


class StaleChargeError(Exception):
    """The order was charged under a newer claim: this invocation's lease ran out and was taken."""


@dataclass(frozen=True)
class Order:
    """An order to charge, as the message body carries it."""

    order_id: str
    amount: int
    """In cents."""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Order:
        """The order in an SQS record's JSON body; ``ValueError`` if the body is not an order."""
        body = SqsMessage.from_record(record).json()
        fields = body if isinstance(body, dict) else {}  # any other JSON is no order either
        order_id, amount = fields.get("order_id"), fields.get("amount")
        if not isinstance(order_id, str) or not order_id:
            raise ValueError(f"the message carries no order_id: {body!r:.100}")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError(f"order {order_id}: the amount must be a positive number of cents")
        return cls(order_id, amount)


def order_key(record: Mapping[str, Any]) -> str:
    """The idempotency key of one message: its order's ID."""
    return Order.from_record(record).order_id


@functools.cache
def dynamodb() -> DynamoDBClient:
    """The DynamoDB client, made on first use and kept for the warm container's later calls."""
    return boto3.client("dynamodb")


@idempotent_records(order_key, namespace=NAMESPACE)
def handler(record: Mapping[str, Any], context: object) -> dict[str, str]:
    """Charge the order of one message; the charge's ID is stored and replayed to duplicates."""
    order = Order.from_record(record)
    charge_id = charge(order, message_id=SqsMessage.from_record(record).message_id)
    return {"order_id": order.order_id, "charge_id": charge_id}


def charge(order: Order, *, message_id: str) -> str:
    """Charge ``order``: append a charge to its item in the charges table; the charge's ID.

    The write is conditioned on the claim's fence, which strictly increases across the claims of
    one key. An invocation that stalls past its lease can be taken over by a redelivery, which
    charges under a larger fence; when the stalled one reaches this write, the condition refuses
    it (:class:`StaleChargeError`) instead of charging the order a second time.
    """
    lock = current_lock()
    if lock is None:  # a programming error: only the idempotent handler may charge
        raise RuntimeError("charge() runs inside the idempotent handler, which holds the fence")
    charge_id = uuid.uuid4().hex
    client = dynamodb()
    try:
        client.update_item(
            TableName=os.environ[CHARGES_TABLE_ENV],
            Key={"order_id": {"S": order.order_id}},
            UpdateExpression=(
                "SET charges = list_append(if_not_exists(charges, :none), :charge), fence = :fence"
            ),
            # Admits: a first charge (no fence yet), or a newer claim than the last writer's.
            ConditionExpression="attribute_not_exists(fence) OR fence < :fence",
            ExpressionAttributeValues={
                ":none": {"L": []},
                ":charge": {
                    "L": [
                        {
                            "M": {
                                "charge_id": {"S": charge_id},
                                "amount": {"N": str(order.amount)},
                                "message_id": {"S": message_id},
                                "fence": {"N": str(lock.fence)},
                                "charged_at": {"S": datetime.now(timezone.utc).isoformat()},
                            }
                        }
                    ]
                },
                ":fence": {"N": str(lock.fence)},
            },
        )
    except client.exceptions.ConditionalCheckFailedException as exc:
        raise StaleChargeError(
            f"order {order.order_id} was charged under a newer claim than ours "
            f"(fence {lock.fence}): our lease ran out and another invocation took it over"
        ) from exc
    return charge_id
