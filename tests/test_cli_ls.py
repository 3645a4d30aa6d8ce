"""``idemlock ls``: every item, filtered, in the promised order, whoever wrote it."""

from __future__ import annotations

import re
import time
from typing import Any

from idemlock import DynamoDBStore, idempotent
from idemlock.testing import ManualClock
from tests.cli_helpers import POWERTOOLS_KEY, Run, as_json, populate, put_items, put_powertools_item


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


def test_ls_lists_and_filters(store: DynamoDBStore, idemlock: Run) -> None:
    """ls shows every item with status, age, lease and fence; filters narrow it down."""
    populate(store, ManualClock())

    every = as_json(idemlock("ls", "--output", "json"))
    assert sorted(item["key"] for item in every) == [
        "import#a.csv",
        "import#b.csv",
        "jobs#live",
        "jobs#stale",
    ]
    stale = as_json(idemlock("ls", "--stale", "--output", "json"))
    assert [(item["key"], item["stale"]) for item in stale] == [("jobs#stale", True)]
    assert stale[0]["lease_left_s"] < 0
    completed = as_json(idemlock("ls", "--status", "completed", "--output", "json"))
    assert {item["result"]["rows"] for item in completed} == {3, 5}
    jobs = as_json(idemlock("ls", "--namespace", "jobs", "--output", "json"))
    assert {item["key"] for item in jobs} == {"jobs#live", "jobs#stale"}
    assert (
        len(as_json(idemlock("ls", "--prefix", "import#", "--limit", "1", "--output", "json"))) == 1
    )

    table = idemlock("ls")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == [
        "KEY", "STATUS", "AGE", "LEASE", "LEFT", "ATTEMPTS", "FENCE"
    ]  # fmt: skip
    assert "IN_PROGRESS (stale)" in table.stdout


def test_ls_paginates_a_large_table_with_progress(store: DynamoDBStore, idemlock: Run) -> None:
    """3,000 items read 100 per Scan request: all listed, progress counted on stderr."""
    now_ms = int(time.time() * 1000)
    items = [
        {
            "id": {"S": f"bulk#{n:05d}"},
            "status": {"S": "COMPLETED"},
            "owner": {"S": "o"},
            "fence": {"N": str(n + 1)},
            "claimed_at_ms": {"N": str(now_ms)},
            "completed_at_ms": {"N": str(now_ms)},
            "result": {"S": str(n)},
        }
        for n in range(3000)
    ]
    for start in range(0, len(items), 25):
        batch: list[Any] = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        store.client.batch_write_item(RequestItems={store.table_name: batch})

    done = idemlock("ls", "--limit", "0", "--page-size", "100", "--progress", "--output", "json")

    listed = as_json(done)
    assert len(listed) == 3000
    assert len({item["key"] for item in listed}) == 3000
    assert "scanned 3000 items" in done.stderr
    stats = as_json(idemlock("stats", "--page-size", "250", "--output", "json"))
    assert stats["by_status"] == {"IN_PROGRESS": 0, "COMPLETED": 3000}


def test_progress_with_a_prefix_shows_what_the_scan_read(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """`ls --prefix jobs# --progress`: the filter applies after the read, so every item is
    scanned and billed; the progress says how many were scanned, how many matched, and the
    read capacity consumed, not only the matches."""
    put_items(store, 50, oldest_ms=int(time.time() * 1000) - 3_600_000)
    populate(store, ManualClock())  # two import#, two jobs# items

    done = idemlock("ls", "--prefix", "jobs#", "--page-size", "20", "--progress")

    assert done.returncode == 0, done.stderr
    final = done.stderr.splitlines()[-1].strip()  # text mode reads each \r as a line end
    said = re.fullmatch(
        r"scanned 54 items, 2 matching 'jobs#', ([\d.]+) read capacity units", final
    )
    assert said, done.stderr
    assert float(said[1]) > 0


def test_control_characters_in_keys_are_escaped_in_the_table(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """A key with a newline and a terminal escape (S3 object names may hold any character):
    the table shows them escaped, one row per item and no escape byte reaches the terminal;
    JSON keeps the key exact."""
    key = "uploads/a\nb\x1b[31mred\u202e.csv"
    idempotent(lambda k: k, store=store, namespace="s3")(str)(key)

    table = idemlock("ls")
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout
    assert "\u202e" not in table.stdout
    assert table.stdout.count("\n") == 2  # the header and one row
    assert "s3#uploads/a\\nb\\x1b[31mred\\u202e.csv  COMPLETED" in table.stdout

    listed = as_json(idemlock("ls", "--output", "json"))
    assert [item["key"] for item in listed] == [f"s3#{key}"]
