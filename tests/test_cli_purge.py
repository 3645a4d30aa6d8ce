"""``idemlock purge``: completed items past retention deleted, nothing without a yes, foreign
items left alone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from idemlock import DynamoDBStore, idempotent
from idemlock.testing import ManualClock
from tests.cli_helpers import (
    POWERTOOLS_KEY,
    Run,
    as_json,
    command_env,
    hold,
    put_items,
    put_powertools_item,
)


@pytest.fixture(autouse=True)
def _without_ttl(store: DynamoDBStore) -> None:
    """The table as purge is meant for: without TTL. These tests write items that expired hours
    ago, and DynamoDB Local's own TTL would delete them (or a claim before its complete) at a
    moment of its choosing."""
    store.client.update_time_to_live(
        TableName=store.table_name,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at_s"},
    )


def test_purge_deletes_completed_items_past_retention_or_older_than(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """purge: completed items whose retention is over, or older than --older-than; never
    in-progress ones; --dry-run deletes nothing."""
    long_ago = ManualClock(start=time.time() - 3 * 3600)
    idempotent(lambda k: k, store=store, namespace="old", clock=long_ago, retention=60)(str)("x")
    idempotent(lambda k: k, store=store, namespace="kept", clock=long_ago, retention=None)(str)("y")
    idempotent(lambda k: k, store=store, namespace="new")(str)("z")
    hold(store, "jobs#stale", ManualClock(), lease=1, age=4 * 3600)

    dry = as_json(idemlock("purge", "--dry-run", "--output", "json"))
    assert dry == {"dry_run": True, "due": ["old#x"], "deleted": []}
    assert store.get("old#x") is not None

    assert as_json(idemlock("purge", "--yes", "--output", "json"))["deleted"] == ["old#x"]
    purged = as_json(idemlock("purge", "--older-than", "2h", "--yes", "--output", "json"))
    assert purged["deleted"] == ["kept#y"]
    assert {r.key for r in store.scan()} == {"new#z", "jobs#stale"}


def _completed_long_ago(store: DynamoDBStore, *keys: str) -> None:
    """Completed items whose retention (a minute) ended three hours ago."""
    long_ago = ManualClock(start=time.time() - 3 * 3600)
    done = idempotent(lambda k: k, store=store, namespace="old", clock=long_ago, retention=60)
    for key in keys:
        done(str)(key)


def test_purge_without_a_unit_deletes_nothing(store: DynamoDBStore, idemlock: Run) -> None:
    """`purge --older-than 7` used to mean seven seconds and delete every completed lock: it is
    a usage error now, and the items stay."""
    idempotent(lambda k: k, store=store, namespace="new")(str)("z")

    done = idemlock("purge", "--older-than", "7", "--yes")

    assert done.returncode == 2
    assert "7d" in done.stderr
    assert store.get("new#z") is not None


def test_purge_shows_the_count_and_asks_first(store: DynamoDBStore, idemlock: Run) -> None:
    """Without --yes, purge says how many items it will delete and asks; no answer (no stdin)
    or anything but y deletes nothing and exits 1."""
    _completed_long_ago(store, "a", "b")

    for answer in ("", "n\n"):  # "": stdin at its end at once, as under cron
        refused = idemlock("purge", stdin=answer)
        assert refused.returncode == 1, refused.stderr
        assert "2 completed items" in refused.stderr
        assert "[y/N]" in refused.stderr
        assert "nothing deleted" in refused.stderr
        assert {r.key for r in store.scan()} == {"old#a", "old#b"}

    agreed = idemlock("purge", stdin="y\n")
    assert agreed.returncode == 0, agreed.stderr
    assert "deleted 2 completed items" in agreed.stdout
    assert list(store.scan()) == []


def test_purge_yes_skips_the_question(store: DynamoDBStore, idemlock: Run) -> None:
    """--yes (or -y) deletes without asking; the JSON lists what was due and deleted."""
    _completed_long_ago(store, "a")
    assert as_json(idemlock("purge", "-y", "--output", "json")) == {
        "dry_run": False,
        "due": ["old#a"],
        "deleted": ["old#a"],
    }

    _completed_long_ago(store, "b")
    done = idemlock("purge", "--yes")
    assert done.returncode == 0
    assert "[y/N]" not in done.stderr
    assert store.get("old#b") is None


def test_purge_dry_run_never_asks_and_never_deletes(store: DynamoDBStore, idemlock: Run) -> None:
    """--dry-run lists what is due, without a question, and deletes nothing."""
    _completed_long_ago(store, "a")

    done = idemlock("purge", "--dry-run")

    assert done.returncode == 0
    assert "[y/N]" not in done.stderr
    assert "old#a" in done.stdout
    assert "1 completed item would be deleted (dry run)" in done.stdout
    assert store.get("old#a") is not None


def test_purge_with_nothing_due_does_not_ask(store: DynamoDBStore, idemlock: Run) -> None:
    """Nothing to delete: no question, exit 0."""
    hold(store, "jobs#live", ManualClock(), lease=600, age=0)

    done = idemlock("purge")

    assert done.returncode == 0, done.stderr
    assert "[y/N]" not in done.stderr
    assert "nothing to purge" in done.stdout


def test_purge_leaves_foreign_items_alone(store: DynamoDBStore, idemlock: Run) -> None:
    """A Powertools item in the table neither stops purge nor is deleted by it."""
    _completed_long_ago(store, "a")
    put_powertools_item(store)

    done = idemlock("purge", "--yes")

    assert done.returncode == 0, done.stderr
    assert "deleted 1 completed item; 1 foreign item left alone" in done.stdout
    assert store.get("old#a") is None
    assert store.get_item(POWERTOOLS_KEY) is not None


def test_ctrl_c_while_deleting_says_what_was_deleted_and_what_remains(
    store: DynamoDBStore, dynamodb_local: str
) -> None:
    """Ctrl-C (SIGINT) during `purge --yes`, once the delete progress shows: the purge stops
    between two deletes, exits 130, and says how many were deleted and how many remain;
    the table holds exactly the ones it says remain."""
    put_items(store, 600, oldest_ms=int(time.time() * 1000) - 3_600_000)
    purge = subprocess.Popen(
        [sys.executable, "-m", "idemlock", "purge", "--older-than", "1m", "--yes", "--progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=command_env(IDEMLOCK_TABLE=store.table_name, AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local),
    )
    assert purge.stderr is not None
    try:
        seen = b""
        while b"deleted 1 of 600" not in seen:  # the progress line (no newline until the end)
            chunk = os.read(purge.stderr.fileno(), 4096)
            assert chunk, f"purge ended before deleting: {seen!r}"
            seen += chunk
        purge.send_signal(signal.SIGINT)
        out, err = purge.communicate(timeout=120)
    finally:
        purge.kill()

    assert purge.returncode == 130, err
    last = err.decode().strip().splitlines()[-1]
    said = re.fullmatch(
        r"idemlock: interrupted: deleted (\d+) completed items? of 600; (\d+) remain, for the "
        r"next purge",
        last,
    )
    assert said, last
    deleted, remain = int(said[1]), int(said[2])
    assert deleted + remain == 600
    assert 0 < deleted < 600  # stopped part way
    assert len(list(store.scan_items())) == remain
    assert out == b""


def test_progress_shows_in_the_delete_phase(store: DynamoDBStore, idemlock: Run) -> None:
    """`purge --progress` counts the deletes on stderr, not only the scan."""
    put_items(store, 30, oldest_ms=int(time.time() * 1000) - 3_600_000)

    done = idemlock("purge", "--older-than", "1m", "--yes", "--progress")

    assert done.returncode == 0, done.stderr
    assert "scanned 30 items" in done.stderr
    assert "deleted 30 of 30 items" in done.stderr
    assert "deleted 30 completed items" in done.stdout
