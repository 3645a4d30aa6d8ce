"""The ``idemlock`` command on a single-table design: with ``--attribute key=PK --attribute
sort_key=SK`` it sees, lists, counts, purges and releases idemlock's items only."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import yaml

from idemlock import AttributeNames, DynamoDBStore, idempotent
from idemlock.testing import ManualClock
from tests.aws import make_client
from tests.cli_helpers import Run, as_json, hold

SINGLE_TABLE = AttributeNames(key="PK", sort_key="SK")
FLAGS = ("--attribute", "key=PK", "--attribute", "sort_key=SK")

APP_ITEMS = [
    {"PK": {"S": "ORDER#1"}, "SK": {"S": "METADATA"}, "status": {"S": "COMPLETED"}},
    {"PK": {"S": "import#a.csv"}, "SK": {"S": "PROFILE"}, "owner": {"S": "team-a"}},
]
"""The application's items: one with a lookalike status, one under a lock's partition key."""


@pytest.fixture
def single_table(dynamodb_local: str) -> DynamoDBStore:
    """An application's (PK, SK) table with its own items and idemlock's: two completed keys,
    a stale claim and a live one."""
    client = make_client(dynamodb_local)
    store = DynamoDBStore(f"app-{uuid.uuid4().hex[:12]}", client=client, attributes=SINGLE_TABLE)
    store.create_table()
    for item in APP_ITEMS:
        client.put_item(TableName=store.table_name, Item=item)
    clock = ManualClock()
    done = idempotent(lambda key: key, store=store, namespace="import", clock=clock)
    done(lambda key: {"rows": 3})("a.csv")
    done(lambda key: {"rows": 5})("b.csv")
    hold(store, "jobs#stale", clock, lease=1, age=10)
    hold(store, "jobs#live", clock, lease=600, age=0)
    return store


def app_items_unchanged(store: DynamoDBStore) -> bool:
    """Whether every application item is still there, as written."""
    client: Any = store.client
    return all(
        client.get_item(
            TableName=store.table_name,
            Key={"PK": item["PK"], "SK": item["SK"]},
            ConsistentRead=True,
        ).get("Item")
        == item
        for item in APP_ITEMS
    )


def test_ls_and_stats_see_only_idemlock_s_items(single_table: DynamoDBStore, idemlock: Run) -> None:
    """ls lists idemlock's four items, none of the application's; stats counts the same four."""
    table = ("--table", single_table.table_name, *FLAGS)
    listed = as_json(idemlock("ls", *table, "--output", "json"))
    assert sorted(item["key"] for item in listed) == [
        "import#a.csv",
        "import#b.csv",
        "jobs#live",
        "jobs#stale",
    ]
    stats = as_json(idemlock("stats", *table, "--output", "json"))
    assert stats["total"] == 4
    assert stats["by_status"] == {"IN_PROGRESS": 2, "COMPLETED": 2}


def test_release_and_purge_touch_only_idemlock_s_items(
    single_table: DynamoDBStore, idemlock: Run
) -> None:
    """release --force and purge --older-than delete idemlock's items, never the application's
    (one of them under the very partition key released)."""
    table = ("--table", single_table.table_name, *FLAGS)
    assert idemlock("release", "import#a.csv", "--force", "--yes", *table).returncode == 0
    assert idemlock("release", "jobs#stale", "--yes", *table).returncode == 0
    time.sleep(0.01)  # purge compares claim times with the wall clock, in milliseconds
    purged = as_json(idemlock("purge", "--older-than", "0s", "--yes", *table, "--output", "json"))

    assert purged["deleted"] == ["import#b.csv"]
    assert [item.key for item in single_table.scan()] == ["jobs#live"]
    assert app_items_unchanged(single_table)


def test_doctor_passes_on_a_single_table(single_table: DynamoDBStore, idemlock: Run) -> None:
    """doctor on the single table: the key schema fits, the probes address idemlock's items, and
    the application's items are not foreign idemlock items."""
    done = idemlock("doctor", "--table", single_table.table_name, *FLAGS, "--output", "json")
    report = {check["name"]: check for check in as_json(done)["checks"]}
    results = {name: check["result"] for name, check in report.items()}
    assert results["key schema"] == "ok"
    assert "'SK'" in report["key schema"]["detail"]
    assert "'idemlock'" in report["key schema"]["detail"]
    assert results["permissions"] == "ok"
    assert results["clock skew"] == "ok"
    assert results["foreign items"] == "ok"
    assert app_items_unchanged(single_table)


def test_without_the_sort_key_the_command_names_the_flag(
    single_table: DynamoDBStore, idemlock: Run
) -> None:
    """Without --attribute sort_key=SK: one line naming the table's key schema and the flags."""
    done = idemlock("ls", "--table", single_table.table_name, "--attribute", "key=PK")

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "--attribute key=PK --attribute sort_key=SK" in done.stderr


@pytest.mark.parametrize("fmt", ["cloudformation", "sam", "serverless"])
def test_yaml_templates_make_either_shape(fmt: str, idemlock: Run) -> None:
    """With a sort key the templates declare it, as a string, beside the key."""
    document = yaml.safe_load(idemlock("template", "--format", fmt, *FLAGS).stdout)
    resources = document["resources"]["Resources"] if fmt == "serverless" else document["Resources"]
    table = resources["IdemlockTable"]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert table["AttributeDefinitions"] == [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
    ]


def test_terraform_template_makes_either_shape(idemlock: Run) -> None:
    """The Terraform table gets range_key and its attribute with a sort key, neither without."""
    with_sort_key = idemlock("template", "--format", "terraform", *FLAGS).stdout
    assert 'range_key    = "SK"' in with_sort_key
    assert with_sort_key.count("attribute {") == 2
    plain = idemlock("template", "--format", "terraform").stdout
    assert "range_key" not in plain
    assert plain.count("attribute {") == 1


def test_a_sort_key_value_of_your_own_reaches_the_command(
    dynamodb_local: str, idemlock: Run
) -> None:
    """--sort-key-value names the sort key value a store was given: ls sees its items."""
    client = make_client(dynamodb_local)
    store = DynamoDBStore(
        f"app-{uuid.uuid4().hex[:12]}",
        client=client,
        attributes=SINGLE_TABLE,
        sort_key_value="LOCK",
    )
    store.create_table()
    idempotent(lambda key: key, store=store, namespace="import")(str)("a.csv")
    table = ("--table", store.table_name, *FLAGS)

    assert as_json(idemlock("ls", *table, "--output", "json")) == []
    listed = as_json(idemlock("ls", *table, "--sort-key-value", "LOCK", "--output", "json"))
    assert [item["key"] for item in listed] == ["import#a.csv"]
    without = idemlock("ls", "--table", store.table_name, "--sort-key-value", "LOCK")
    assert without.returncode == 1
    assert "sort_key" in without.stderr


def test_create_table_makes_a_single_table_with_the_flags(
    dynamodb_local: str, idemlock: Run
) -> None:
    """create-table with --attribute key=PK --attribute sort_key=SK makes a (PK, SK) table, says
    so, and accepts it again."""
    name = f"app-{uuid.uuid4().hex[:12]}"
    done = idemlock("create-table", name, *FLAGS)
    assert done.returncode == 0, done.stderr
    assert "key 'PK' (S), sort key 'SK' (S)" in done.stdout
    table = make_client(dynamodb_local).describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert idemlock("create-table", name, *FLAGS).returncode == 0
    refused = idemlock("create-table", name)
    assert refused.returncode == 1
    assert "--attribute key=PK --attribute sort_key=SK" in refused.stderr


@pytest.mark.parametrize("command", [("template", "--format", "terraform"), ("local",)])
def test_commands_that_read_no_item_refuse_a_sort_key_value(
    command: tuple[str, ...], idemlock: Run
) -> None:
    """A template or a local table is the same for every sort key value: the flag would be
    silently ignored, so argparse refuses it and names it."""
    done = idemlock(*command, *FLAGS, "--sort-key-value", "LOCK")
    assert done.returncode == 2
    assert "--sort-key-value" in done.stderr
