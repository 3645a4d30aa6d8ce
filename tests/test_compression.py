"""Large results are stored compressed: fewer write units, more room, the same replay.

On DynamoDB Local and dynalite (binary attributes are standard DynamoDB), and through the
``idemlock`` command, which reads them as text.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from idemlock import DynamoDBStore, idempotent
from idemlock.dynamodb import COMPRESS_ABOVE_BYTES, RESULT_LIMIT_BYTES
from tests.aws import fresh_table
from tests.cli_helpers import Run, as_json

ORDERS = [{"order_id": f"o-{n}", "items": ["book", "pen"], "total": n * 10} for n in range(200)]
"""A 10 KB JSON result of the kind handlers return: repetitive, so it compresses well."""


@pytest.fixture(
    params=[pytest.param(s, marks=pytest.mark.servers) for s in ("dynamodb_local", "dynalite")]
)
def table(request: pytest.FixtureRequest) -> DynamoDBStore:
    """A fresh lock table on each DynamoDB-protocol server."""
    return fresh_table(request.getfixturevalue(request.param))


def raw_result(store: DynamoDBStore, key: str) -> dict[str, Any]:
    """The stored result attribute as DynamoDB holds it."""
    item = store.client.get_item(
        TableName=store.table_name, Key={"id": {"S": key}}, ConsistentRead=True
    )["Item"]
    return dict(item["result"])


def test_a_large_result_is_stored_compressed_and_replays_exactly(
    table: DynamoDBStore, namespace: str
) -> None:
    """A 10 KB result: a binary attribute a fraction of its size; duplicates get it back."""
    runs = []

    @idempotent(lambda order: order, store=table, namespace=namespace)
    def report(order: str) -> list[dict[str, Any]]:
        runs.append(order)
        return ORDERS

    text = json.dumps(ORDERS, separators=(",", ":"))
    assert len(text) > 10_000
    assert report("r-1") == ORDERS
    assert report("r-1") == ORDERS
    assert runs == ["r-1"]
    stored = raw_result(table, f"{namespace}#r-1")
    assert set(stored) == {"B"}
    assert len(stored["B"]) * 3 < len(text)  # at least three times smaller
    record = table.get(f"{namespace}#r-1")
    assert record is not None
    assert record.result == text


def test_small_results_stay_text(table: DynamoDBStore, namespace: str) -> None:
    """At or under the threshold the result is a string attribute, as items always were."""

    @idempotent(lambda order: order, store=table, namespace=namespace)
    def charge(order: str) -> str:
        return "x" * (COMPRESS_ABOVE_BYTES - 2)  # its JSON is exactly the threshold

    charge("o-1")
    assert set(raw_result(table, f"{namespace}#o-1")) == {"S"}


def test_results_over_the_limit_as_text_but_not_compressed_are_storable(
    table: DynamoDBStore, namespace: str
) -> None:
    """1 MB of JSON that compresses to a few KB fits a 400 KB item: stored, replayed."""
    big = {"rows": ["the same line of a report"] * 40_000}
    assert len(json.dumps(big)) > 2 * RESULT_LIMIT_BYTES

    @idempotent(lambda order: order, store=table, namespace=namespace)
    def export(order: str) -> dict[str, Any]:
        return big

    assert export("e-1") == big
    assert export("e-1") == big


def test_the_command_shows_a_compressed_result_as_text(idemlock: Run, store: DynamoDBStore) -> None:
    """``idemlock show`` reads the binary attribute and prints the result as JSON text."""

    @idempotent(lambda order: order, store=store, namespace="reports")
    def report(order: str) -> list[dict[str, Any]]:
        return ORDERS

    report("r-1")
    shown = as_json(idemlock("show", "reports#r-1", "--output", "json"))
    assert shown["result"] == ORDERS
