"""The batch floor: its arithmetic (benchmarks/floor.py: claims in waves, bodies, the last
complete) and its requests measured on a server (benchmarks/measured_floor.py)."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import pytest
from botocore.exceptions import ClientError

from benchmarks.floor import claim_waves, floor_ms, floor_overhead_ms, floors, measured
from benchmarks.measured_floor import (
    SHAPES,
    MeasuredFloor,
    chunked,
    floor_calls,
    lock_writes,
    send_in_record_order,
)
from idemlock.item import LockStatus
from tests.aws import fresh_table


def test_claims_go_out_in_waves_of_the_concurrency() -> None:
    """⌈N/C⌉ waves of single writes; ⌈⌈N/25⌉/C⌉ with 25 statements to a request."""
    assert claim_waves(100, 32) == 4
    assert claim_waves(1000, 32) == 32
    assert claim_waves(32, 32) == 1
    assert claim_waves(100, 32, per_request=25) == 1
    assert claim_waves(1000, 32, per_request=25) == 2  # 40 requests, 32 at once
    assert claim_waves(1, 1, per_request=25) == 1


def test_no_op_bodies_leave_the_waves_and_the_last_complete() -> None:
    """With bodies that take no time, the floor is (waves + 1) round trips."""
    assert floor_ms(100, 32, rtt_ms=20.0, bodies_ms=0.0) == 100.0
    assert floor_ms(100, 32, rtt_ms=20.0, bodies_ms=0.0, per_request=25) == 40.0
    assert floor_overhead_ms(1000, 32, rtt_ms=20.0, bodies_ms=0.0, per_request=25) == 60.0


def test_long_bodies_hide_the_later_waves() -> None:
    """Bodies run one after another from the first claim's return: when they outlast the waves,
    the floor is a round trip, the bodies, and the last complete; the overhead two round trips."""
    assert floor_ms(100, 32, rtt_ms=20.0, bodies_ms=500.0) == 540.0
    assert floor_overhead_ms(100, 32, rtt_ms=20.0, bodies_ms=500.0) == 40.0


def test_floors_reports_both_request_shapes() -> None:
    """One case's floors: one write per request and 25 statements per request, side by side."""
    case = floors(1000, 32, rtt_ms=10.0, bodies_ms=0.0)
    assert case["single"]["round_trips"] == 33
    assert case["single"]["overhead_ms"] == 330.0
    assert case["batched"]["round_trips"] == 3
    assert case["batched"]["overhead_ms"] == 30.0


@pytest.mark.parametrize("args", [(0, 32), (10, 0)])
def test_empty_batches_and_no_concurrency_are_refused(args: tuple[int, int]) -> None:
    """A batch has at least one record and one request in flight: anything else is a mistake."""
    with pytest.raises(ValueError, match="at least 1"):
        claim_waves(*args)


def test_a_measured_floor_is_its_batches_wall_and_that_in_round_trips() -> None:
    """The floor's requests carry no bodies: their wall time is the floor's overhead, its median
    also given in round trips; no batch timed is a mistake."""
    floor = measured([30.0, 50.0, 40.0], rtt_ms=20.0)
    assert floor["wall_ms"]["median"] == 40.0
    assert (floor["wall_ms"]["min"], floor["wall_ms"]["max"]) == (30.0, 50.0)
    assert floor["round_trips"] == 2.0
    with pytest.raises(ValueError, match="at least one"):
        measured([], rtt_ms=20.0)


def test_chunks_keep_the_order_and_hold_at_most_their_size() -> None:
    """60 writes go in requests of 25, 25 and 10, in record order."""
    chunks = chunked(list(range(60)), 25)
    assert [len(chunk) for chunk in chunks] == [25, 25, 10]
    assert [n for chunk in chunks for n in chunk] == list(range(60))
    with pytest.raises(ValueError, match="at least 1"):
        chunked([1], 0)


def test_each_key_is_claimed_and_completed_by_its_own_owner() -> None:
    """As the batch handler does: one owner token per record, its complete by the same owner."""
    writes = lock_writes(["a", "b", "c"], now_ms=1_000_000)
    assert [(claim.key, complete.key) for claim, complete in writes] == [
        ("a", "a"),
        ("b", "b"),
        ("c", "c"),
    ]
    assert all(claim.owner == complete.owner for claim, complete in writes)
    assert len({claim.owner for claim, _ in writes}) == 3
    assert all(claim.lease_expires_at_ms > claim.now_ms for claim, _ in writes)


def test_completes_follow_their_claim_and_every_earlier_one() -> None:
    """A complete is sent once its own claim and those before it are back, as bodies in record
    order allow, even when a later claim came back first; the call returns after them all."""
    log: list[str] = []
    first_may_end = threading.Event()

    def claim(n: int) -> None:
        if n == 0:
            assert first_may_end.wait(timeout=30)  # held until the last claim is back
        log.append(f"claim {n}")
        if n == 2:
            first_may_end.set()

    def complete(n: int) -> None:
        log.append(f"complete {n}")

    with ThreadPoolExecutor(max_workers=3) as pool:
        send_in_record_order(
            [functools.partial(claim, n) for n in range(3)],
            [functools.partial(complete, n) for n in range(3)],
            pool,
        )
    assert log.index("claim 2") < log.index("claim 0")
    for n in range(3):
        assert all(log.index(f"complete {n}") > log.index(f"claim {k}") for k in range(n + 1))
    assert sorted(log) == sorted(
        [*(f"claim {n}" for n in range(3)), *(f"complete {n}" for n in range(3))]
    )


def test_a_failed_claim_fails_the_floor_and_sends_no_complete_after_it() -> None:
    """The floor stands for a batch whose every claim succeeds: a failure is raised, not timed."""
    sent: list[int] = []

    def refused() -> None:
        raise RuntimeError("refused")

    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(RuntimeError, match="refused"):
        send_in_record_order([refused], [lambda: sent.append(0)], pool)
    assert sent == []


@pytest.mark.parametrize("shape", SHAPES)
def test_the_floor_writes_the_items_idemlock_writes(dynamodb_local: str, shape: str) -> None:
    """On DynamoDB Local, the floor's claims leave each key IN_PROGRESS for its owner and its
    completes leave it COMPLETED with a no-op body's result, as idemlock's store reads them."""
    store = fresh_table(dynamodb_local)
    keys = [f"k-{uuid.uuid4().hex}" for _ in range(30)]  # two requests of 25 statements
    writes = lock_writes(keys, now_ms=time.time_ns() // 1_000_000)
    claims, completes = floor_calls(store.client, store.table_name, shape, writes)
    for call in claims:
        call()
    for claim, _ in writes:
        item = store.get(claim.key)
        assert item is not None
        assert (item.status, item.owner) == (LockStatus.IN_PROGRESS, claim.owner)
        assert item.lease_expires_at_ms == claim.lease_expires_at_ms
    for call in completes:
        call()
    for _, complete in writes:
        item = store.get(complete.key)
        assert item is not None
        assert (item.status, item.owner, item.result) == (
            LockStatus.COMPLETED,
            complete.owner,
            "null",
        )


@pytest.mark.parametrize("shape", SHAPES)
def test_a_claim_on_a_taken_key_fails_the_floor(dynamodb_local: str, shape: str) -> None:
    """A floor request that would not be a first run (its key has an item) raises."""
    store = fresh_table(dynamodb_local)
    writes = lock_writes([f"k-{uuid.uuid4().hex}"], now_ms=time.time_ns() // 1_000_000)
    claims, _ = floor_calls(store.client, store.table_name, shape, writes)
    claims[0]()
    with pytest.raises((RuntimeError, ClientError)):
        claims[0]()


def test_each_measured_batch_uses_fresh_keys(dynamodb_local: str) -> None:
    """Batch after batch in both shapes on one table: no claim finds a key taken (it would
    raise), and every key the floor claimed is completed."""
    store = fresh_table(dynamodb_local)
    with closing(MeasuredFloor(store.client, store.table_name, concurrency=4)) as floor:
        for shape in (*SHAPES, *SHAPES):
            assert floor.wall_ms(30, shape) > 0
        with pytest.raises(ValueError, match="no request shape 'mixed'"):
            floor.wall_ms(30, "mixed")
    items = list(store.scan())
    assert len(items) == 4 * 30
    assert {item.status for item in items} == {LockStatus.COMPLETED}
