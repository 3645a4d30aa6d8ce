"""How every command reads the table: attribute names given with --attribute, another key schema
refused in one line, items whose result cannot be read listed as such."""

from __future__ import annotations

import uuid

import pytest

from idemlock import DynamoDBStore, idempotent
from idemlock.dynamodb import AttributeNames
from idemlock.testing import ManualClock
from tests.aws import fresh_table, make_client
from tests.cli_helpers import UNREADABLE_RESULTS, Run, as_json, hold, put_unreadable_results


def test_custom_attribute_names_are_read_with_attribute_flags(
    dynamodb_local: str, idemlock: Run
) -> None:
    """A table made with other attribute names: --attribute FIELD=NAME reads its records;
    without them the command refuses the key schema in one line."""
    names = AttributeNames(key="pk", status="state", expires_at_s="ttl")
    custom = fresh_table(dynamodb_local, attributes=names)
    hold(custom, "jobs#stale", ManualClock(), lease=1, age=10)

    plain = idemlock("ls", "--table", custom.table_name)
    assert plain.returncode == 1
    assert plain.stderr.count("\n") == 1
    assert "--attribute key=" in plain.stderr

    flags = [
        "--attribute",
        "key=pk",
        "--attribute",
        "status=state",
        "--attribute",
        "expires_at_s=ttl",
    ]
    listed = as_json(idemlock("ls", "--table", custom.table_name, *flags, "--output", "json"))
    assert [(item["key"], item["stale"], item["foreign"]) for item in listed] == [
        ("jobs#stale", True, False)
    ]
    stats = as_json(idemlock("stats", "--table", custom.table_name, *flags, "--output", "json"))
    assert (stats["foreign"], stats["stale"]) == (0, 1)
    released = idemlock("release", "jobs#stale", "--yes", "--table", custom.table_name, *flags)
    assert released.returncode == 0, released.stderr
    assert custom.get("jobs#stale") is None


@pytest.fixture
def other_table(dynamodb_local: str) -> str:
    """A table with a numeric key named pk, holding one item: not a lock table."""
    client = make_client(dynamodb_local)
    name = f"other-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName=name, Item={"pk": {"N": "1"}})
    return name


@pytest.mark.parametrize(
    "argv",
    [["ls"], ["show", "jobs#a"], ["stats"], ["purge", "--yes"], ["release", "jobs#a", "--yes"]],
)
def test_a_table_with_another_key_schema_is_one_line(
    argv: list[str], other_table: str, idemlock: Run
) -> None:
    """ls (which printed nothing and exited 0), show (a raw ValidationException) and the others
    name the table's key schema and the fix: exit 1, one line."""
    done = idemlock(*argv, "--table", other_table)

    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert "key schema" in done.stderr
    assert "'pk'" in done.stderr
    assert "--table" in done.stderr


def test_items_with_unreadable_results_are_listed_and_released_with_force(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """A corrupted or foreign result attribute (binary that is not zlib, text that is not JSON,
    an unknown tag): ls, stats, show and purge keep working and list the item as unreadable;
    release refuses it without --force and removes it with --force (a zlib.error broke every
    command on the whole table before)."""
    put_unreadable_results(store)
    idempotent(lambda k: k, store=store, namespace="ok")(lambda k: k)("fine")

    listed = {item["key"]: item for item in as_json(idemlock("ls", "--output", "json"))}
    assert {key for key, item in listed.items() if item["unreadable"]} == set(UNREADABLE_RESULTS)
    assert (listed["ok#fine"]["unreadable"], listed["bad#tag"]["status"]) == (False, "COMPLETED")
    assert "zlib" in listed["bad#binary"]["problem"]
    table = idemlock("ls")
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("COMPLETED (unreadable result)") == len(UNREADABLE_RESULTS)
    stats = as_json(idemlock("stats", "--output", "json"))
    assert (stats["unreadable"], stats["by_status"]["COMPLETED"], stats["total"]) == (3, 1, 4)
    shown = idemlock("show", "bad#text")
    assert shown.returncode == 0, shown.stderr
    assert "its result cannot be read" in shown.stdout
    purged = idemlock("purge", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert "3 items with an unreadable result left alone" in purged.stdout

    refused = idemlock("release", "bad#binary", "--yes")
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    assert store.get_item("bad#binary") is not None
    forced = idemlock("release", "bad#binary", "--force", "--yes", "--output", "json")
    assert as_json(forced) == {"key": "bad#binary", "released": True, "was": "COMPLETED"}
    assert store.get_item("bad#binary") is None
