"""``idemlock stats``: counts per status, stale items, the oldest claim, foreign items apart."""

from __future__ import annotations

from idemlock import DynamoDBStore
from idemlock.testing import ManualClock
from tests.cli_helpers import Run, as_json, populate, put_powertools_item


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


def test_stats_counts_statuses_stale_items_and_the_oldest_claim(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """stats: per-status counts, stale count, the oldest in-progress claim."""
    populate(store, ManualClock())

    stats = as_json(idemlock("stats", "--output", "json"))

    assert stats["total"] == 4
    assert stats["by_status"] == {"IN_PROGRESS": 2, "COMPLETED": 2}
    assert stats["stale"] == 1
    assert stats["oldest_in_progress"]["key"] == "jobs#stale"
    assert stats["oldest_in_progress"]["age_s"] >= 10
