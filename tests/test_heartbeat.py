"""Heartbeats on DynamoDB Local: a short lease bounds crash recovery, not the body.

With ``lease=1`` a body that runs three seconds would be taken over after one; with
``heartbeat=True`` its lease is extended every third of a second, so nobody takes it over while it
runs, and when its process is killed the key is free again about one lease later.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from idemlock import DynamoDBStore, Lock, current_lock, idempotent, idempotent_records
from idemlock.errors import ConfigurationError, InProgressError, LockLostError
from idemlock.item import LockStatus
from idemlock.testing import LambdaContext
from tests.aws import fresh_table, make_client, take_over
from tests.batch_events import number, sqs_event
from tests.polling import knock_until
from tests.proxy import TcpProxy
from tests.recording import Events

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def store(dynamodb_local: str) -> DynamoDBStore:
    """One lock table on DynamoDB Local for this module; each test has its own namespace."""
    return fresh_table(dynamodb_local)


def wait_for_more(read: Callable[[], int], *, than: int, timeout_s: float = 30.0) -> None:
    """Poll ``read`` until it exceeds ``than``; fail after ``timeout_s`` (a generous bound, not
    a timing claim: a loaded machine only makes the wait longer)."""
    deadline = time.monotonic() + timeout_s
    while read() <= than:
        assert time.monotonic() < deadline, f"still {read()} after {timeout_s} s"
        time.sleep(0.02)


@pytest.mark.parametrize("heartbeat", [True, False])
def test_a_heartbeat_keeps_a_long_body_from_being_taken_over(
    store: DynamoDBStore, namespace: str, heartbeat: bool
) -> None:
    """lease=1, a 3 s body: with heartbeats every other caller is refused; without, one runs."""
    events = Events()
    runs: list[str] = []
    done = threading.Event()

    @idempotent(
        lambda order: order,
        store=store,
        namespace=namespace,
        lease=1,
        heartbeat=heartbeat,
        on_event=events,
    )
    def charge(order: str) -> None:
        runs.append(order)
        if len(runs) == 1:
            time.sleep(3)

    def first() -> None:
        try:
            charge("o-1")
        except LockLostError:
            runs.append("lost")
        finally:
            done.set()

    worker = threading.Thread(target=first)
    worker.start()
    time.sleep(0.3)
    outcomes = knock_until(done, lambda: charge("o-1"))
    worker.join(10)

    if heartbeat:
        assert outcomes.count("in_progress") >= 5
        assert runs == ["o-1"]  # a knock after the complete is a duplicate, not a run
        assert events.count("extended") >= 5
        assert events.count("completed") == 1
        record = store.get(f"{namespace}#o-1")
        assert record is not None
        assert record.status is LockStatus.COMPLETED
    else:  # the control: the same body without heartbeats is taken over and runs twice
        assert runs.count("o-1") == 2
        assert runs[-1] == "lost"


def test_an_async_body_beats_from_a_task(store: DynamoDBStore, namespace: str) -> None:
    """An async body: the heartbeat is a task on its loop; other callers are refused meanwhile."""
    events = Events()
    other_runs: list[str] = []

    @idempotent(
        lambda order: order,
        store=store,
        namespace=namespace,
        lease=1,
        heartbeat=True,
        on_event=events,
    )
    async def charge(order: str) -> str:
        await asyncio.sleep(2.5)
        return order

    @idempotent(lambda order: order, store=store, namespace=namespace, lease=1)
    def other(order: str) -> None:
        other_runs.append(order)

    async def main() -> list[str]:
        task = asyncio.ensure_future(charge("o-1"))
        outcomes = []
        while not task.done():
            await asyncio.sleep(0.3)
            try:
                await asyncio.to_thread(other, "o-1")
            except InProgressError:
                outcomes.append("in_progress")
        assert await task == "o-1"
        return outcomes

    assert asyncio.run(main()).count("in_progress") >= 5
    assert other_runs == []
    assert events.count("extended") >= 4


def test_inside_lambda_the_heartbeat_stops_at_the_deadline(
    store: DynamoDBStore, namespace: str
) -> None:
    """No extension past the invocation's remaining time plus the grace."""
    events = Events()

    @idempotent(
        lambda event, context: event["id"],
        store=store,
        namespace=namespace,
        lease=1,
        heartbeat=0.2,
        on_event=events,
    )
    def handler(event: dict[str, str], context: object) -> None:
        time.sleep(1.5)

    started_ms = int(time.time() * 1000)
    handler({"id": "a"}, LambdaContext(remaining_ms=1_000))
    extended = [event for event in events if event.kind == "extended"]
    assert extended  # beats moved the lease while the deadline allowed it
    record = store.get(f"{namespace}#a")
    assert record is not None
    assert record.status is LockStatus.COMPLETED
    # Every extension stayed within the deadline: 1 s left + 2 s grace from the start.
    assert events.count("lock_lost") == 0
    assert int(time.time() * 1000) - started_ms >= 1_500


def test_batch_bodies_beat_too(store: DynamoDBStore, namespace: str) -> None:
    """@idempotent_records(heartbeat=True): a slow record is not taken over while it runs."""
    events = Events()
    done = threading.Event()

    def handle(record: dict[str, Any], context: object) -> None:
        if number(record) == 0:
            time.sleep(2.5)

    handler = idempotent_records(
        store=store, namespace=namespace, lease=1, heartbeat=True, on_event=events
    )(handle)
    other = idempotent_records(store=store, namespace=namespace, lease=1)(
        lambda record, context: None
    )
    event = sqs_event(1)
    results: list[Any] = []

    def run_batch() -> None:
        results.append(handler(event))
        done.set()

    worker = threading.Thread(target=run_batch)
    worker.start()
    time.sleep(0.3)
    refused = []
    while not done.wait(0.3):
        refused.append(other(event))
    worker.join(10)
    assert results == [{"batchItemFailures": []}]
    assert refused
    assert all(r == {"batchItemFailures": [{"itemIdentifier": "m-0"}]} for r in refused)
    assert events.count("extended") >= 4


def test_heartbeat_is_validated() -> None:
    """heartbeat is True, False or a positive duration."""
    with pytest.raises(ConfigurationError, match="heartbeat"):
        idempotent(lambda: "k", heartbeat=0)
    with pytest.raises(ConfigurationError, match="heartbeat"):
        idempotent(lambda: "k", heartbeat="often")  # type: ignore[arg-type]


WORKER_PREAMBLE = textwrap.dedent(
    """
    import sys, time
    from idemlock import DynamoDBStore, current_lock, idempotent
    from idemlock.errors import LockLostError
    from tests.aws import make_client

    store = DynamoDBStore(sys.argv[2], client=make_client(sys.argv[1]))
    heartbeating = idempotent(
        lambda job: job, store=store, namespace=sys.argv[3], lease=1, heartbeat=True
    )
    """
)
"""What every worker process starts with: argv is the endpoint, the table and the namespace;
``@heartbeating`` protects its job under a 1 s lease with heartbeats."""

WORKER = WORKER_PREAMBLE + textwrap.dedent(
    """
    @heartbeating
    def work(job):
        print("working", flush=True)
        time.sleep(60)

    work("job-1")
    """
)


def test_a_killed_worker_frees_its_key_within_about_one_lease(
    store: DynamoDBStore, namespace: str, dynamodb_local: str
) -> None:
    """SIGKILL mid-body: its heartbeat dies with it, and another worker takes over ~1 s later."""
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, dynamodb_local, store.table_name, namespace],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "working"
        time.sleep(2.5)  # alive past two leases: its heartbeat holds the key
        record = store.get(f"{namespace}#job-1")
        assert record is not None
        assert record.status is LockStatus.IN_PROGRESS
        assert record.lease_expires_at_ms is not None
        assert record.lease_expires_at_ms > int(time.time() * 1000)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    killed_at = time.monotonic()

    ran = []

    @idempotent(lambda job: job, store=store, namespace=namespace, lease=1)
    def work(job: str) -> None:
        ran.append(job)

    while not ran:
        try:
            work("job-1")
        except InProgressError:
            assert time.monotonic() - killed_at < 5, "the key stayed blocked past its lease"
            time.sleep(0.1)
    assert ran == ["job-1"]


def test_a_lost_lock_is_visible_to_the_body(store: DynamoDBStore, namespace: str) -> None:
    """A beat finding another owner: current_lock().lost, on_lock_lost runs, complete refused."""
    told: list[Lock] = []
    seen: list[bool] = []

    @idempotent(
        lambda order: order,
        store=store,
        namespace=namespace,
        lease=1,
        heartbeat=True,
        on_lock_lost=told.append,
    )
    def charge(order: str) -> None:
        lock = current_lock()
        assert lock is not None
        take_over(store, lock.key)
        deadline = time.monotonic() + 5
        while not lock.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        seen.append(lock.lost)

    with pytest.raises(LockLostError):
        charge("o-1")
    assert seen == [True]
    assert len(told) == 1
    assert told[0].lost


def test_a_body_extends_its_own_lease(store: DynamoDBStore, namespace: str) -> None:
    """current_lock().extend(5): the stored lease moves, others stay refused past the first."""
    other_runs: list[str] = []

    @idempotent(lambda order: order, store=store, namespace=namespace, lease=1)
    def charge(order: str) -> None:
        lock = current_lock()
        assert lock is not None
        before = lock.lease_expires_at_ms
        lock.extend(5)
        assert lock.lease_expires_at_ms >= before + 3_000
        stored = store.get(lock.key)
        assert stored is not None
        assert stored.lease_expires_at_ms == lock.lease_expires_at_ms
        time.sleep(1.5)  # past the first lease: still ours
        with pytest.raises(InProgressError):
            other("o-1")
        assert not lock.lost

    @idempotent(lambda order: order, store=store, namespace=namespace, lease=1)
    def other(order: str) -> None:
        other_runs.append(order)

    charge("o-1")
    assert other_runs == []
    with pytest.raises(ConfigurationError, match="positive seconds"):
        extend_outside(store, namespace)


def extend_outside(store: DynamoDBStore, namespace: str) -> None:
    """extend() with a bad duration is a ConfigurationError naming it."""

    @idempotent(lambda order: order, store=store, namespace=namespace)
    def charge(order: str) -> None:
        lock = current_lock()
        assert lock is not None
        lock.extend(0)

    charge("o-2")


@pytest.mark.parametrize(
    "fault",
    ["lost response", "connection reset", "throttled"],
)
def test_heartbeats_ride_out_network_faults(
    dynamodb_local: str, namespace: str, fault: str
) -> None:
    """Faults on the extensions themselves (through a TCP proxy): a lost response's retry finds
    the lease ours and succeeds again, a reset or a throttle is retried; the body is never taken
    over and completes once."""
    table = fresh_table(dynamodb_local)
    port = urlsplit(dynamodb_local).port
    assert port is not None
    events = Events()
    other_runs: list[str] = []
    with TcpProxy(port) as proxy:
        store = DynamoDBStore(table.table_name, client=make_client(proxy.endpoint_url))

        @idempotent(
            lambda order: order,
            store=store,
            namespace=namespace,
            lease=3,  # botocore's backoff for a throttled extension can take a second
            heartbeat=0.5,
            on_event=events,
        )
        def charge(order: str) -> str:
            started = time.monotonic()
            arm: Callable[[], None] = {
                "lost response": lambda: proxy.drop_next_responses(1),
                "connection reset": lambda: proxy.reset_next_connections(1),
                "throttled": lambda: proxy.fail_next_requests(1, "ThrottlingException"),
            }[fault]
            for _ in range(3):  # faults armed for the next extensions, one after another
                faults, extended = faults_hit(), extensions()
                arm()
                # Waited for, not slept on: how long a retried extension takes (botocore's
                # backoff, a loaded machine) is no concern of this test.
                wait_for_more(faults_hit, than=faults)  # an extension met the fault...
                wait_for_more(extensions, than=extended)  # ...and got through
                with pytest.raises(InProgressError):
                    other(order)
            # Past the first lease's end, only the beats kept the key ours.
            time.sleep(max(0.0, started + 3.5 - time.monotonic()))
            with pytest.raises(InProgressError):
                other(order)
            proxy.clear_faults()
            return order

        def faults_hit() -> int:
            return proxy.dropped + proxy.resets + proxy.errors_sent

        def extensions() -> int:
            return events.count("extended")

        @idempotent(lambda order: order, store=table, namespace=namespace, lease=3)
        def other(order: str) -> None:
            other_runs.append(order)

        assert charge("o-1") == "o-1"
    assert other_runs == []
    assert events.count("extended") >= 3
    assert events.count("lock_lost") == 0
    assert proxy.dropped + proxy.resets + proxy.errors_sent == 3


PAUSED_WORKER = WORKER_PREAMBLE + textwrap.dedent(
    """
    @heartbeating
    def work(job):
        print("working", flush=True)
        time.sleep(4)
        print("lost" if current_lock().lost else "held", flush=True)

    try:
        work("job-1")
    except LockLostError:
        print("complete refused", flush=True)
    """
)


def test_a_paused_worker_learns_it_lost_its_lock(
    store: DynamoDBStore, namespace: str, dynamodb_local: str
) -> None:
    """SIGSTOP past the lease: another worker takes over; resumed, the paused one sees ``lost``
    (its next beat finds the new owner) and its complete is refused: one completion."""
    with subprocess.Popen(
        [sys.executable, "-c", PAUSED_WORKER, dynamodb_local, store.table_name, namespace],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as paused:
        assert paused.stdout is not None
        assert paused.stdout.readline().strip() == "working"
        paused.send_signal(signal.SIGSTOP)
        try:
            ran = []

            @idempotent(lambda job: job, store=store, namespace=namespace, lease=1)
            def work(job: str) -> str:
                ran.append(job)
                return "by the second worker"

            deadline = time.monotonic() + 10
            while not ran:
                try:
                    work("job-1")
                except InProgressError:
                    assert time.monotonic() < deadline, "the paused worker's lease never ended"
                    time.sleep(0.1)
        finally:
            paused.send_signal(signal.SIGCONT)
        rest = paused.stdout.read().split()
        paused.wait(20)
    assert rest == ["lost", "complete", "refused"]
    record = store.get(f"{namespace}#job-1")
    assert record is not None
    assert record.status is LockStatus.COMPLETED
    assert record.result == '"by the second worker"'
