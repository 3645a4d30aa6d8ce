"""``idemlock ls``, ``show`` and ``stats``: every item, in the promised order, whoever wrote it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from idemlock import DynamoDBStore
from idemlock.dynamodb import AttributeNames
from idemlock.testing import ManualClock
from tests.aws import fresh_table, make_client
from tests.cli_helpers import Run, as_json, command_env, hold, populate

POWERTOOLS_KEY = "orders-fn.lambda_handler#9f86d081884c7d659a2feaa0c55ad015"


def put_powertools_item(store: DynamoDBStore) -> None:
    """An item as Powertools' idempotency writes it: another status word, other attributes."""
    now = int(time.time())
    store.client.put_item(
        TableName=store.table_name,
        Item={
            "id": {"S": POWERTOOLS_KEY},
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(now + 3600)},
            "in_progress_expiration": {"N": str((now + 60) * 1000)},
        },
    )


def put_items(store: DynamoDBStore, count: int, *, oldest_ms: int) -> None:
    """``count`` completed items, claimed a second apart from ``oldest_ms`` on (bulk#00000 is
    the oldest), written in batches."""
    items: list[Any] = [
        {
            "PutRequest": {
                "Item": {
                    "id": {"S": f"bulk#{n:05d}"},
                    "status": {"S": "COMPLETED"},
                    "owner": {"S": "o"},
                    "fence": {"N": str(n + 1)},
                    "claimed_at_ms": {"N": str(oldest_ms + n * 1000)},
                    "completed_at_ms": {"N": str(oldest_ms + n * 1000)},
                    "result": {"S": str(n)},
                }
            }
        }
        for n in range(count)
    ]
    for start in range(0, len(items), 25):
        store.client.batch_write_item(RequestItems={store.table_name: items[start : start + 25]})


# -- item 2: no silent truncation, the promised order --------------------------------------------


def test_json_lists_every_item_without_a_limit(store: DynamoDBStore, idemlock: Run) -> None:
    """--output json returns all 250 matching items (the old default stopped at 100 in silence),
    newest claim first, with nothing on stderr."""
    put_items(store, 250, oldest_ms=int(time.time() * 1000) - 3_600_000)

    done = idemlock("ls", "--output", "json", "--page-size", "40")

    listed = as_json(done)
    assert [item["key"] for item in listed] == [f"bulk#{n:05d}" for n in reversed(range(250))]
    assert "showing" not in done.stderr


def test_a_cut_list_says_so_and_shows_the_newest_of_all(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """A limit sorts over every matching item, not over the first page read: with 250 items
    read 40 a page, --limit 5 shows the 5 newest of the table, and stderr says how many were
    shown of how many, and how to see them all."""
    put_items(store, 250, oldest_ms=int(time.time() * 1000) - 3_600_000)

    done = idemlock("ls", "--limit", "5", "--page-size", "40", "--output", "json")

    assert [item["key"] for item in as_json(done)] == [
        f"bulk#{n:05d}" for n in (249, 248, 247, 246, 245)
    ]
    assert "showing the 5 newest of 250 matching items" in done.stderr
    assert "--limit 0" in done.stderr


def test_the_table_view_stops_at_100_and_says_so(store: DynamoDBStore, idemlock: Run) -> None:
    """For people, ls prints the 100 newest rows by default, and says the rest exist."""
    put_items(store, 130, oldest_ms=int(time.time() * 1000) - 3_600_000)

    done = idemlock("ls", "--page-size", "50")

    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()[1:]
    assert len(rows) == 100
    assert rows[0].startswith("bulk#00129 ")
    assert "showing the 100 newest of 130 matching items" in done.stderr


# -- item 3: foreign items -----------------------------------------------------------------------


def test_foreign_items_are_listed_as_such(store: DynamoDBStore, idemlock: Run) -> None:
    """A Powertools item does not break ls: it is listed with its key, raw status and a foreign
    marker, after idemlock's items; --foreign lists only such items."""
    populate(store, ManualClock())
    put_powertools_item(store)

    listed = as_json(idemlock("ls", "--output", "json"))
    assert [(item["key"], item["foreign"]) for item in listed][-1] == (POWERTOOLS_KEY, True)
    assert listed[-1]["status"] == "INPROGRESS"
    assert "status 'INPROGRESS'" in listed[-1]["problem"]
    assert sum(item["foreign"] for item in listed) == 1

    table = idemlock("ls")
    assert table.returncode == 0, table.stderr
    assert f"{POWERTOOLS_KEY}  INPROGRESS (foreign)" in table.stdout

    only = as_json(idemlock("ls", "--foreign", "--output", "json"))
    assert [item["key"] for item in only] == [POWERTOOLS_KEY]
    assert as_json(idemlock("ls", "--status", "IN_PROGRESS", "--output", "json")) != []
    assert POWERTOOLS_KEY not in idemlock("ls", "--status", "IN_PROGRESS").stdout


def test_stats_counts_foreign_items_apart(store: DynamoDBStore, idemlock: Run) -> None:
    """stats counts a foreign item in the total and under foreign, never under a status."""
    populate(store, ManualClock())
    put_powertools_item(store)

    stats = as_json(idemlock("stats", "--output", "json"))

    assert stats["total"] == 5
    assert stats["foreign"] == 1
    assert stats["by_status"] == {"IN_PROGRESS": 2, "COMPLETED": 2}
    table = idemlock("stats")
    assert table.returncode == 0, table.stderr
    assert "foreign" in table.stdout


def test_show_prints_a_foreign_item_raw(store: DynamoDBStore, idemlock: Run) -> None:
    """show on a foreign item prints its attributes as they are, marked foreign."""
    put_powertools_item(store)

    shown = as_json(idemlock("show", POWERTOOLS_KEY, "--output", "json"))
    assert shown["foreign"] is True
    assert shown["status"] == "INPROGRESS"
    assert set(shown["attributes"]) == {"id", "status", "expiration", "in_progress_expiration"}
    assert isinstance(shown["attributes"]["expiration"], int)

    table = idemlock("show", POWERTOOLS_KEY)
    assert table.returncode == 0, table.stderr
    assert "foreign" in table.stdout
    assert "in_progress_expiration" in table.stdout


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


# -- item 4: a table with another key schema -----------------------------------------------------


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


# -- item 9: one way to print a time -------------------------------------------------------------

_HOLDER = """\
import sys
from idemlock import DynamoDBStore, idempotent
from idemlock.errors import InProgressError

process = idempotent(lambda key: key, store=DynamoDBStore(sys.argv[1]), namespace="jobs")(str)
try:
    process("live")
except InProgressError as exc:
    print(exc)
"""


def test_times_print_the_same_in_errors_and_in_the_command(
    store: DynamoDBStore, idemlock: Run, dynamodb_local: str
) -> None:
    """A program that meets a live claim gets an InProgressError whose lease time is written
    as `show` writes it: ISO 8601 UTC with milliseconds and a Z."""
    hold(store, "jobs#live", ManualClock(), lease=600, age=0)

    done = subprocess.run(
        [sys.executable, "-c", _HOLDER, store.table_name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=command_env(AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local),
    )
    assert done.returncode == 0, done.stderr

    lease = as_json(idemlock("show", "jobs#live", "--output", "json"))["lease_expires_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lease)
    assert f"its lease expires at {lease}" in done.stdout
    assert lease in idemlock("show", "jobs#live").stdout
