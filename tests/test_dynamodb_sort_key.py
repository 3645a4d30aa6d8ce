"""DynamoDBStore on a single-table design: a (partition key, sort key) table holding the
application's own items, and tables whose key schema does not fit the store's attribute names."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from idemlock import AttributeNames, DynamoDBStore, idempotent
from idemlock.dynamodb import DEFAULT_SORT_KEY_VALUE
from idemlock.errors import (
    ConfigurationError,
    IdemlockError,
    InProgressError,
    StoreError,
    TableMismatchError,
)
from idemlock.item import LockStatus
from idemlock.testing import ManualClock
from tests.aws import make_client

SINGLE_TABLE = AttributeNames(key="PK", sort_key="SK")

APP_ITEMS = [
    {"PK": {"S": "ORDER#1"}, "SK": {"S": "METADATA"}, "total": {"N": "12"}},
    {"PK": {"S": "ORDER#1"}, "SK": {"S": "LINE#1"}, "sku": {"S": "A"}},
    # The application's item under the very partition key idemlock will use for a lock.
    {"PK": {"S": "charge#o-1"}, "SK": {"S": "PROFILE"}, "status": {"S": "ACTIVE"}},
    # Its status attribute clashes with idemlock's: it must never be read as a lock.
    {"PK": {"S": "USER#7"}, "SK": {"S": "USER#7"}, "status": {"S": "IN_PROGRESS"}},
]


def make_table(client: Any, schema: list[tuple[str, str, str]]) -> str:
    """A fresh table keyed by ``(name, HASH|RANGE, S|N)`` triples."""
    name = f"app-{uuid.uuid4().hex[:12]}"
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, _, t in schema],
        KeySchema=[{"AttributeName": n, "KeyType": k} for n, k, _ in schema],
    )
    return name


def app_table(client: Any) -> str:
    """An application's single table (PK, SK) holding its own items."""
    name = make_table(client, [("PK", "HASH", "S"), ("SK", "RANGE", "S")])
    for item in APP_ITEMS:
        client.put_item(TableName=name, Item=item)
    return name


def app_items(client: Any, table: str, sort_key_value: str = DEFAULT_SORT_KEY_VALUE) -> list[Any]:
    """Every item of the table but idemlock's, sorted."""
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(
        (i for i in items if i["SK"]["S"] != sort_key_value),
        key=lambda i: (i["PK"]["S"], i["SK"]["S"]),
    )


@pytest.fixture(params=[pytest.param("dynamodb_local", marks=pytest.mark.servers), "moto"])
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A client of DynamoDB Local, or of moto's in-process DynamoDB."""
    if request.param == "moto":
        with mock_aws():
            yield make_client("https://dynamodb.us-east-1.amazonaws.com")
        return
    yield make_client(request.getfixturevalue("dynamodb_local"))


def test_idempotent_on_a_single_table_never_touches_the_application_s_items(
    client: Any, clock: ManualClock
) -> None:
    """A first run, a duplicate, a failure and a retry on a (PK, SK) table: idemlock's items
    carry its own sort key value, and the application's items (one under the very partition key
    of a lock) are read and written by nobody but the application."""
    table = app_table(client)
    before = app_items(client, table)
    store = DynamoDBStore(table, client=client, attributes=SINGLE_TABLE)
    runs: list[str] = []

    @idempotent(lambda order: order, store=store, namespace="charge", clock=clock)
    def charge(order: str) -> dict[str, str]:
        runs.append(order)
        if order == "o-2" and runs.count("o-2") == 1:
            raise RuntimeError("card declined")
        return {"charged": order}

    assert charge("o-1") == {"charged": "o-1"}
    assert charge("o-1") == {"charged": "o-1"}  # replayed
    with pytest.raises(RuntimeError):
        charge("o-2")
    assert charge("o-2") == {"charged": "o-2"}
    assert runs == ["o-1", "o-2", "o-2"]

    assert app_items(client, table) == before
    ours = client.get_item(
        TableName=table, Key={"PK": {"S": "charge#o-1"}, "SK": {"S": DEFAULT_SORT_KEY_VALUE}}
    )["Item"]
    assert ours["status"] == {"S": "COMPLETED"}
    item = store.get("charge#o-1")
    assert item is not None
    assert item.status is LockStatus.COMPLETED
    assert store.get("ORDER#1") is None  # an application's partition: no idemlock item there


def test_scan_sees_only_idemlock_s_items(client: Any, clock: ManualClock) -> None:
    """scan() (what ls, stats and purge read) yields idemlock's items only: the application's,
    a lookalike status included, are neither listed nor reported as foreign."""
    table = app_table(client)
    store = DynamoDBStore(table, client=client, attributes=SINGLE_TABLE)
    done = idempotent(lambda order: order, store=store, namespace="charge", clock=clock)
    done(lambda order: order)("o-1")
    done(lambda order: order)("o-2")

    assert sorted(item.key for item in store.scan()) == ["charge#o-1", "charge#o-2"]
    assert [item.key for item in store.scan(prefix="charge#o-1")] == ["charge#o-1"]
    assert sorted(i["PK"]["S"] for i in store.scan_items(page_size=1)) == [
        "charge#o-1",
        "charge#o-2",
    ]


def test_delete_and_get_item_address_idemlock_s_item_only(client: Any, clock: ManualClock) -> None:
    """An operator's delete (release --force) removes idemlock's item and leaves the
    application's item under the same partition key."""
    table = app_table(client)
    store = DynamoDBStore(table, client=client, attributes=SINGLE_TABLE)
    idempotent(lambda order: order, store=store, namespace="charge", clock=clock)(
        lambda order: order
    )("o-1")

    assert store.delete("charge#o-1") is True
    assert store.get_item("charge#o-1") is None
    everything = client.scan(TableName=table, ConsistentRead=True)["Items"]
    assert all(item["SK"]["S"] != DEFAULT_SORT_KEY_VALUE for item in everything)
    assert {"PK": {"S": "charge#o-1"}, "SK": {"S": "PROFILE"}, "status": {"S": "ACTIVE"}} in (
        app_items(client, table)
    )


def test_a_sort_key_value_of_your_own(client: Any, clock: ManualClock) -> None:
    """sort_key_value= names idemlock's items' sort key value."""
    table = app_table(client)
    store = DynamoDBStore(table, client=client, attributes=SINGLE_TABLE, sort_key_value="LOCK")
    idempotent(lambda order: order, store=store, namespace="charge", clock=clock)(
        lambda order: order
    )("o-1")
    key = {"PK": {"S": "charge#o-1"}, "SK": {"S": "LOCK"}}
    assert "Item" in client.get_item(TableName=table, Key=key)
    assert [item.key for item in store.scan()] == ["charge#o-1"]


def test_a_sort_key_value_without_a_sort_key_is_a_configuration_error() -> None:
    """sort_key_value= on a store without a sort key attribute means nothing: refused."""
    with pytest.raises(ConfigurationError, match="sort_key"):
        DynamoDBStore("t", sort_key_value="LOCK")
    with pytest.raises(ConfigurationError, match="sort_key_value"):
        DynamoDBStore("t", attributes=SINGLE_TABLE, sort_key_value="")
    with pytest.raises(ConfigurationError, match="distinct"):
        AttributeNames(key="PK", sort_key="PK")


def test_create_table_makes_either_shape(client: Any) -> None:
    """create_table() makes a (key, sort key) table when the attribute names have a sort key,
    accepts it again, and check_table() agrees."""
    name = f"locks-{uuid.uuid4().hex[:12]}"
    store = DynamoDBStore(name, client=client, attributes=SINGLE_TABLE)
    assert store.create_table() is True
    assert store.create_table() is False
    description = store.check_table()
    assert description["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]


MISMATCHES = [
    # (the table's key schema, the store's attribute names, what the error must advise)
    (
        [("PK", "HASH", "S"), ("SK", "RANGE", "S")],
        AttributeNames(),
        "attributes=AttributeNames(key='PK', sort_key='SK')",
    ),
    (
        [("PK", "HASH", "S"), ("SK", "RANGE", "S")],
        AttributeNames(key="PK"),
        "attributes=AttributeNames(key='PK', sort_key='SK')",
    ),
    ([("PK", "HASH", "S")], SINGLE_TABLE, "attributes=AttributeNames(key='PK')"),
    ([("pk", "HASH", "S")], AttributeNames(), "attributes=AttributeNames(key='pk')"),
    ([("id", "HASH", "N")], AttributeNames(), "string"),
]


# DynamoDB Local only: the refusal is DynamoDB's own ValidationException, which moto's lowest
# allowed version (5.0.13) does not raise for every one of these schemas.
@pytest.mark.servers
@pytest.mark.parametrize("client", ["dynamodb_local"], indirect=True)
@pytest.mark.parametrize(("schema", "names", "advice"), MISMATCHES)
def test_a_table_that_does_not_fit_is_refused_before_the_body_runs(
    client: Any,
    clock: ManualClock,
    schema: list[tuple[str, str, str]],
    names: AttributeNames,
    advice: str,
) -> None:
    """The first call on a table whose key schema does not fit the store's attribute names is a
    TableMismatchError (an IdemlockError) naming the table's key schema and the option to pass;
    the body does not run and nothing is written."""
    table = make_table(client, schema)
    store = DynamoDBStore(table, client=client, attributes=names)
    runs: list[str] = []

    with pytest.raises(TableMismatchError) as caught:
        idempotent(lambda order: order, store=store, namespace="charge", clock=clock)(runs.append)(
            "o-1"
        )

    assert runs == []
    assert isinstance(caught.value, IdemlockError)
    message = str(caught.value)
    assert caught.value.table == table
    assert all(name in message for name, _, _ in schema)  # the table's key schema
    assert advice in message
    assert client.scan(TableName=table)["Items"] == []


@pytest.mark.parametrize(("schema", "names", "advice"), MISMATCHES)
def test_check_table_and_create_table_name_the_same_fix(
    client: Any, schema: list[tuple[str, str, str]], names: AttributeNames, advice: str
) -> None:
    """check_table() (doctor) and create_table() on an existing table refuse the same tables
    with the same advice."""
    table = make_table(client, schema)
    store = DynamoDBStore(table, client=client, attributes=names)
    for call in (store.check_table, store.create_table):
        with pytest.raises(TableMismatchError) as caught:
            call()
        assert advice in str(caught.value)


@pytest.mark.parametrize(
    ("message", "mismatch"),
    [
        ("The provided key element does not match the schema", True),
        ("One or more parameter values were invalid: Type mismatch for key id", True),
        ("Item size has exceeded the maximum allowed size", False),
    ],
)
def test_without_describe_table_the_refusal_still_names_the_fix(
    message: str, mismatch: bool
) -> None:
    """A role that may not DescribeTable still gets a TableMismatchError when DynamoDB's message
    says the key did not fit (naming the option); any other ValidationException stays a
    StoreError."""
    client = make_client("http://127.0.0.1:9")
    store = DynamoDBStore("locks", client=client)
    handler = idempotent(lambda order: order, store=store, namespace="ns")(lambda order: None)

    with Stubber(client) as stub:
        stub.add_client_error("update_item", "ValidationException", message)
        stub.add_client_error("describe_table", "AccessDeniedException", "not authorized")
        with pytest.raises(StoreError) as caught:
            handler("o-1")

    assert isinstance(caught.value, TableMismatchError) is mismatch
    assert message in str(caught.value)
    if mismatch:
        assert "AttributeNames(key=..., sort_key=...)" in str(caught.value)
        assert caught.value.key == "ns#o-1"


def test_racing_callers_on_a_single_table_run_the_body_once(dynamodb_local: str) -> None:
    """On DynamoDB Local, 16 threads call each of 5 fresh keys at once on a (PK, SK) table that
    holds an application item under the very partition key: each body runs exactly once."""
    client = make_client(dynamodb_local, max_pool_connections=16)
    table = app_table(client)
    store = DynamoDBStore(table, client=client, attributes=SINGLE_TABLE)
    runs: list[str] = []
    guard = threading.Lock()

    @idempotent(lambda order: order, store=store, namespace="charge", lease=60)
    def charge(order: str) -> str:
        with guard:
            runs.append(order)
        time.sleep(0.05)  # hold the key while the others arrive (not a timed assertion)
        return order

    for order in ["o-1", *(f"race-{n}" for n in range(4))]:
        barrier = threading.Barrier(16)

        def call(order: str = order, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            with contextlib.suppress(InProgressError):
                charge(order)

        threads = [threading.Thread(target=call) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(runs) == sorted(["o-1", *(f"race-{n}" for n in range(4))])
    assert app_items(client, table) == sorted(APP_ITEMS, key=lambda i: (i["PK"]["S"], i["SK"]["S"]))
