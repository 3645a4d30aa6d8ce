"""The simulated world's store: a fault behind the proxy hits the call it was drawn for, alone.

On DynamoDB Local a fault is armed in the proxy for every attempt botocore makes, but botocore
makes fewer once its client's retry quota is spent (each retry costs it). What the call's
requests did not meet must not stay armed: it would throttle, or lose the answer of, the next
call, which the history would not know faulted (a write that landed unseen, noted nowhere),
or the read that checks how the run ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from idemlock import Claim, DynamoDBStore
from idemlock.errors import StoreError
from tests.aws import fresh_table, make_client
from tests.proxy import TcpProxy
from tests.simulation.history import History
from tests.simulation.run import settle_leases
from tests.simulation.world import START, FaultPlan, ProxyFaults, SimStore, World

ATTEMPTS = 3
"""The attempts each fault is armed for (as ``test_simulation.py`` arms them)."""


@pytest.fixture
def spent_client(dynamodb_local: str) -> Iterator[tuple[DynamoDBStore, TcpProxy]]:
    """A lock table behind the proxy, through a client that makes one attempt per call: what
    botocore does once its retry quota is spent."""
    table = fresh_table(dynamodb_local)
    port = urlsplit(dynamodb_local).port
    assert port is not None
    with TcpProxy(port) as proxy:
        client = make_client(
            proxy.endpoint_url, retries={"mode": "standard", "total_max_attempts": 1}
        )
        yield DynamoDBStore(table.table_name, client=client), proxy


def faulty_store(inner: DynamoDBStore, proxy: TcpProxy, kind: str) -> tuple[SimStore, World]:
    """A simulated store whose every claim meets ``kind``, and nothing else any fault."""
    world = World(History())
    faults = FaultPlan(0, {"claim": {kind: 1.0}})
    return SimStore(inner, world, faults, ProxyFaults(proxy, ATTEMPTS)), world


def claim(key: str) -> Claim:
    """A claim of ``key`` at the run's start, for a 10 s lease."""
    now_ms = int(START * 1000)
    return Claim(key, "owner-a", now_ms, now_ms * 1000, now_ms + 10_000, int(START) + 3600)


@pytest.mark.parametrize("kind", ["throttle", "lost"])
def test_a_fault_botocore_did_not_meet_never_hits_the_next_call(
    spent_client: tuple[DynamoDBStore, TcpProxy], kind: str
) -> None:
    """The claim's fault was armed for three attempts and met one; the next read, drawn no
    fault, answers, and the history says what the claim's fault left unmet."""
    inner, proxy = spent_client
    store, world = faulty_store(inner, proxy, kind)
    with pytest.raises(StoreError):
        store.claim(claim("k"))
    item = store.get("k")
    assert (item is not None) is (kind == "lost")  # a lost answer's claim landed
    assert any("not met" in line for _, line in world.history.lines), world.history.lines


def test_the_end_of_run_read_never_meets_a_fault(
    spent_client: tuple[DynamoDBStore, TcpProxy],
) -> None:
    """The read that checks every key ended free or completed is not the workload's: even with
    a fault armed in the proxy, it reads, and finds the lease the run left."""
    inner, proxy = spent_client
    store, world = faulty_store(inner, proxy, "throttle")
    store.inner.claim(claim("k"))
    world.history.start_body("call0", "k", owner="owner-a", fence=1, moment=0.0, owed_s=10.0)
    proxy.fail_next_requests(ATTEMPTS)
    settle_leases(world, store, longest_lease=0.0)
    assert any("still held a lease" in line for _, line in world.history.lines)
