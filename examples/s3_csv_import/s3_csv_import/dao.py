"""Writes users to the users table: overwrite-by-id, so an import can always be run again.

A user's id is derived from the row itself (``country#name``), and every write is a plain put of
the whole item. Writing the same file twice therefore leaves exactly the items writing it once
does: an import that died halfway (a timeout, a throttled batch) is finished by running it again
from the start, with no duplicate users and no bookkeeping of how far it got.

The table and endpoint come from the environment (``USERS_TABLE``; ``AWS_ENDPOINT_URL_DYNAMODB``
is honoured by boto3), read when first needed, so tests configure it the way Lambda does.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from time import sleep
from typing import TYPE_CHECKING, Final

import boto3

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        WriteRequestTypeDef,
        WriteRequestUnionTypeDef,
    )

TABLE_ENV: Final = "USERS_TABLE"
"""The environment variable naming the users table."""

IAM_ACTIONS: Final = ("dynamodb:BatchWriteItem",)
"""Everything this module does to the users table: the function's role needs exactly this."""

BATCH_SIZE: Final = 25
"""Items per BatchWriteItem request: DynamoDB's maximum."""

MAX_ATTEMPTS: Final = 6
"""Requests per batch before unprocessed items (throttling) count as a failure."""


@dataclass(frozen=True)
class User:
    """One user, as a row of the CSV describes it."""

    name: str
    country: str
    """ISO 3166-1 alpha-2, upper case."""
    age: int

    @property
    def user_id(self) -> str:
        """The item's key: the same row always makes the same id, so a re-run overwrites."""
        return f"{self.country}#{self.name}"


class IncompleteWriteError(Exception):
    """DynamoDB left items unprocessed after every attempt (sustained throttling)."""

    def __init__(self, table: str, unprocessed: int) -> None:
        self.table = table
        self.unprocessed = unprocessed
        super().__init__(
            f"{unprocessed} users were not written to {table!r} after {MAX_ATTEMPTS} attempts; "
            "the import failed and is safe to run again"
        )


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    """The DynamoDB client, made on first use and kept for the container's warm invocations."""
    return boto3.client("dynamodb")


def table_name() -> str:
    """The users table named by ``USERS_TABLE``."""
    table = os.environ.get(TABLE_ENV, "").strip()
    if not table:
        raise RuntimeError(f"set {TABLE_ENV} to the name of the users table")
    return table


def save_users(users: Sequence[User], *, source: str) -> None:
    """Put every user (overwriting any item with the same id), recording the file it came from.

    Sent as BatchWriteItem requests of 25; unprocessed items are retried with backoff. A failure
    part way leaves some users written: running the import again writes the same items.
    """
    table = table_name()
    for start in range(0, len(users), BATCH_SIZE):
        requests: list[WriteRequestTypeDef] = [
            {"PutRequest": {"Item": _item(user, source)}}
            for user in users[start : start + BATCH_SIZE]
        ]
        _write_batch(table, requests)


def _write_batch(table: str, requests: list[WriteRequestTypeDef]) -> None:
    """One batch, retrying what DynamoDB hands back unprocessed (it throttles per item)."""
    client = dynamodb_client()
    pending: Sequence[WriteRequestUnionTypeDef] = requests
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            sleep(min(2.0, 0.05 * 2**attempt))  # 0.1 s, 0.2 s, ... as the SDKs advise
        response = client.batch_write_item(RequestItems={table: pending})
        unprocessed = response.get("UnprocessedItems", {}).get(table, [])
        if not unprocessed:
            return
        pending = unprocessed
    raise IncompleteWriteError(table, len(pending))


def _item(user: User, source: str) -> dict[str, AttributeValueTypeDef]:
    """The DynamoDB item of a user: its id, fields and the file that wrote it last."""
    return {
        "user_id": {"S": user.user_id},
        "name": {"S": user.name},
        "country": {"S": user.country},
        "age": {"N": str(user.age)},
        "source": {"S": source},
    }
