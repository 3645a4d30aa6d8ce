"""Section 9 of the benchmarks (``benchmarks/recovery.py``): its arithmetic, and the counts it
reports, which are correctness figures (no write while waiting; steps replayed, not re-run).

No timing is asserted: only round trips, units and who ran what.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks import recovery
from benchmarks.common import create_table, make_client
from tests.test_benchmarks import require_bench_extra


@pytest.fixture
def client(dynamodb_local: str) -> Iterator[Any]:
    require_bench_extra()
    made = make_client(dynamodb_local)
    yield made
    made.close()


def test_rates_and_writes_beyond_the_claims() -> None:
    """A rate is a count over seconds (0 for no time); each waiter's one claim is not counted
    as a write while waiting, any other write is."""
    assert recovery.per_second(6, 2.0) == 3.0
    assert recovery.per_second(4, 0.0) == 0.0
    claims_and_reads = ["UpdateItem", "GetItem", "GetItem", "UpdateItem", "GetItem"]
    assert recovery.writes_after_claims(claims_and_reads, 2) == 0
    assert recovery.writes_after_claims([*claims_and_reads, "PutItem", "DeleteItem"], 2) == 2
    assert recovery.writes_after_claims(["GetItem"], 1) == 0


def test_the_reads_the_schedule_expects() -> None:
    """Mean pauses of 37.5, 75, 150, 300 and 600 ms (three quarters of 50 ms doubling), then
    750 ms (of the 1 s cap): reads at 37.5, 112.5, 262.5, 562.5, 1162.5, 1912.5 ms..."""
    assert [recovery.expected_reads(s) for s in (0.03, 0.04, 0.6, 1.0, 1.2, 2.0)] == [
        0,
        1,
        4,
        4,
        5,
        6,
    ]
    assert recovery.expected_reads(9.5) - recovery.expected_reads(2.0) == 10  # 2662.5 to 9412.5


def test_waiters_on_a_hot_key_read_and_never_write(client: Any, dynamodb_local: str) -> None:
    """Five waiters on a key another call holds: each sends its one claim, then only reads,
    and each returns the first call's result (the body ran once: the section checks it)."""
    sizes = recovery.Sizes(holds_s=(), hold_repeats=1, waiters=(5,), hot_hold_s=1.0)
    row = recovery.hot_key(dynamodb_local, create_table(client, "hot"), sizes)["5"]
    assert row["writes_while_waiting"] == 0
    assert row["failed_writes"] == 5  # the five claims, refused: the key was held
    assert row["wcu"] == 5
    assert row["reads"] >= 1
    assert row["round_trips"] == 5 + row["reads"]


def test_a_duplicate_waiting_for_the_first_result_reads_only(
    client: Any, dynamodb_local: str
) -> None:
    """One waiter: its claim, then reads until the first call completes; no other write."""
    sizes = recovery.Sizes(holds_s=(0.5,), hold_repeats=1, waiters=(), hot_hold_s=0)
    row = recovery.waiting(dynamodb_local, create_table(client, "wait"), sizes)["0.5"]
    (run,) = row["runs"]
    assert run["operations"][0] == "UpdateItem"
    assert set(run["operations"][1:]) == {"GetItem"}
    assert run["writes_while_waiting"] == 0
    assert run["rcu"] == run["reads"]  # a strongly consistent read of a small item: one unit


def test_steps_cost_one_write_each_and_a_retry_replays_them(client: Any) -> None:
    """A step is one conditional write; a retry after a failure after step 2 runs only step 3
    (the section checks each step ran once); Powertools' retry runs the charge again."""
    rows = recovery.steps(client, create_table(client, "steps"))
    shapes = ("no step", "1 step", "3 steps")
    assert [rows[shape]["first_run"]["round_trips"] for shape in shapes] == [2, 3, 5]
    failing = rows["3 steps, failing after step 2"]
    assert failing["first_run"]["operations"] == ["UpdateItem"] * 4  # claim, 2 steps, free
    assert failing["retry"]["round_trips"] == 3  # claim (steps come with it), step 3, complete
    assert rows["powertools, failing after the charge"]["charges"] == 2


def test_refuse_costs_a_failed_claim_and_a_mark(client: Any) -> None:
    """A refusing claim on a lapsed lease: the failed claim and the mark; on a marked key the
    failed claim alone; ``take_over``: its claim and its complete."""
    rows = recovery.refuse(client, create_table(client, "refuse"))
    assert [row["round_trips"] for row in rows.values()] == [2, 1, 2]
    assert [row["failed_writes"] for row in rows.values()] == [1, 1, 0]
