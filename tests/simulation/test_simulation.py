"""The simulation, seed by seed: idemlock keeps its promise where its features meet.

``seams`` combines every feature and fault. Each ``item*`` sweep leans on one seam issue 23
found broken: each found its bug within its seeds before the fix (docs/simulation.md names the
seeds) and keeps it fixed now. A sweep for a seam not fixed yet is marked
``xfail(strict=True)``, so it turns red the day the fix lands: remove the mark then. Each
test's name holds its profile, so ``-k item1`` selects a profile's sweeps.
``IDEMLOCK_SIM_SEEDS=N`` runs N seeds per sweep (never fewer than CI's); ``IDEMLOCK_SIM_SEED=N``
replays one.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from idemlock import DynamoDBStore
from idemlock.testing import MemoryStore
from tests.aws import fresh_table, make_client
from tests.proxy import TcpProxy
from tests.simulation.run import Run, seeds, simulate
from tests.simulation.world import ProxyFaults

ATTEMPTS = 3
"""botocore's attempts per call on DynamoDB Local: a fault armed for all of them sticks."""


def first_broken(profile: str, count: int) -> Run | None:
    """The first of ``count`` seeds (or more: ``IDEMLOCK_SIM_SEEDS``) that broke the promise."""
    for seed in seeds(count):
        run = simulate(seed, profile, MemoryStore())
        if run.violations:
            return run
    return None


def assert_kept(profile: str, count: int) -> None:
    """Every seed of the sweep keeps the promise; else the first failure's seed and history."""
    run = first_broken(profile, count)
    assert run is None, run.explain()


@pytest.mark.parametrize("seed", seeds(40))
def test_seams_keep_the_promise(seed: int) -> None:
    """Calls, async calls, SQS, stream, Kinesis and FIFO batches, heartbeats, extends, raising
    sinks, killed workers, store faults, duplicates and redeliveries together: no invariant of
    the checker breaks."""
    run = simulate(seed, "seams", MemoryStore())
    assert not run.violations, run.explain()


def test_item1_every_batch_record_starts_with_its_whole_lease() -> None:
    """SQS batch, no heartbeat, redeliveries at the lease's end: no record is taken over while
    its body runs within a lease of its start (before the fix: seeds 19, 34, 35, ... of 100)."""
    assert_kept("item1", 100)


def test_item2_an_async_body_blocking_its_loop_keeps_its_heartbeat() -> None:
    """An ``async`` body that sleeps on its loop's thread: its heartbeat still keeps the key
    (before the fix: seeds 0, 1, 2, 4 of 5: the heartbeat was a task on that loop)."""
    assert_kept("item2", 5)


def test_item3_a_slow_sink_never_delays_a_heartbeat() -> None:
    """A sink that takes 1.5 leases on ``extended`` events: the heartbeat still keeps the key
    (before the fix: seeds 1, 2, 3, 4, ... of 20)."""
    assert_kept("item3", 20)


def test_item4_a_late_extend_never_moves_the_lease_backwards() -> None:
    """``extend(60)`` answered late while a heartbeat extends: the stored lease only moves
    forward and the key is not taken over (before the fix: seed 0 and nearly every other)."""
    assert_kept("item4", 20)


def test_item7_an_ordered_batch_never_reapplies_an_older_change() -> None:
    """Ordered batches whose completes are throttled through every retry: no change applied
    after a newer one of its shard, no record reported not run that ran (before the fix: 1, 5,
    7, ...), no record that ran unrecorded applied again by a duplicate delivery after its
    lease (before that fix: about one seed in ten)."""
    assert_kept("item7", 20)


def test_recovery_waiters_steps_and_refuse_keep_the_promise() -> None:
    """Issue 28 where it meets the seams: waiters (``wait=``) racing first calls that complete,
    fail, outlive their lease or outlast the wait; bodies of sync and async steps (in batch
    record handlers too) failing, dying or timing out between steps; ``on_lease_expired=
    "refuse"`` with an operator who releases or resolves; faults on every store call, step
    records, frees and marks included (before the fix: 15 of the first 40 seeds, 0, 1, 2, 4,
    ..., a step whose record failed ran again at once; before resolve completed in an operator's
    name, about one seed in five, 12 and 13 among the first 20: a late owner overwrote or freed
    a resolved key; docs/simulation.md, tests/test_outcome_unknown.py)."""
    assert_kept("recovery", 20)


def test_everything_at_once() -> None:
    """Every feature and fault of every profile, mixed (before the last fixes: seed 6, a batch
    body started on its lapsed claim after a slow sink on its renewal's event). With issue 28's
    waiters, steps and refuse, before resolve completed in an operator's name: seeds 8, 17 of
    the first 40 (13, 38 in another run), a late owner overwrote or freed a resolved key."""
    assert_kept("everything", 20)


@pytest.fixture
def proxied(dynamodb_local: str) -> Iterator[tuple[DynamoDBStore, ProxyFaults]]:
    """A fresh lock table on DynamoDB Local, reached through a fault-injecting proxy."""
    table = fresh_table(dynamodb_local)
    port = urlsplit(dynamodb_local).port
    assert port is not None
    with TcpProxy(port) as proxy:
        client = make_client(
            proxy.endpoint_url,
            read_timeout=1,
            connect_timeout=1,
            retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        )
        yield DynamoDBStore(table.table_name, client=client), ProxyFaults(proxy, ATTEMPTS)


@pytest.mark.parametrize("seed", seeds(2))
def test_recovery_keeps_the_promise_on_dynamodb_local(
    proxied: tuple[DynamoDBStore, ProxyFaults], seed: int
) -> None:
    """The ``recovery`` workload (waiters, steps, refuse and the operator) on DynamoDB Local,
    faults made by the TCP proxy."""
    store, faults = proxied
    run = simulate(seed, "recovery", store, faults)
    assert not run.violations, run.explain()


@pytest.mark.parametrize("seed", seeds(3))
def test_seams_keep_the_promise_on_dynamodb_local(
    proxied: tuple[DynamoDBStore, ProxyFaults], seed: int
) -> None:
    """The ``seams`` workload on DynamoDB Local, faults made by a TCP proxy (throttling, lost
    answers that botocore retries or gives up on)."""
    store, faults = proxied
    run = simulate(seed, "seams", store, faults)
    assert not run.violations, run.explain()


@pytest.mark.parametrize("seed", seeds(1))
def test_everything_at_once_on_dynamodb_local(
    proxied: tuple[DynamoDBStore, ProxyFaults], seed: int
) -> None:
    """The ``everything`` workload (every feature and fault of every profile) on DynamoDB
    Local, faults made by the TCP proxy."""
    store, faults = proxied
    run = simulate(seed, "everything", store, faults)
    assert not run.violations, run.explain()


@pytest.mark.parametrize(
    ("profile", "count"),
    [
        ("item1", 100),
        ("item3", 3),
        ("item4", 3),
        ("item7", 6),
    ],
)
def test_the_seams_of_issue_23_on_dynamodb_local(
    proxied: tuple[DynamoDBStore, ProxyFaults], profile: str, count: int
) -> None:
    """Each sweep of issue 23 on DynamoDB Local, its faults made by the proxy."""
    store, faults = proxied
    for seed in seeds(count):
        run = simulate(seed, profile, store, faults)
        assert not run.violations, run.explain()
