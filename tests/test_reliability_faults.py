"""Network faults between the client and DynamoDB Local, injected by a TCP proxy.

A seeded campaign: keys are processed until they complete, each call with a fault picked at
random on the claim or on the complete/release — a response lost after the server applied the
write, a connection reset before it arrived, a throttling error, a latency spike past the read
timeout, or a body failure. Whatever happens, every call returns the value or raises a typed
error (or the body's own), the key is never left locked past a lease, and the body's result is
returned once per key. CI runs a bounded campaign; ``IDEMLOCK_SOAK=N`` multiplies it.

botocore runs in standard retry mode (the library's default, set here explicitly): throttling,
5xx and connection errors are retried with jittered backoff (the library's default client
makes 5 attempts; this campaign's client 3, to keep it short).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from idemlock import DynamoDBStore, _lock, idempotent
from idemlock.errors import InProgressError, LockLostError, StoreError
from idemlock.item import LockStatus
from idemlock.testing import ManualClock
from tests.aws import fresh_table, make_client
from tests.proxy import TcpProxy

SOAK = int(os.environ.get("IDEMLOCK_SOAK", "1"))
KEYS = 40 * SOAK
SEED = int(os.environ.get("IDEMLOCK_SEED", "20261122"))
LEASE_S = 30


class BodyFailed(Exception):
    """The body's own failure, which the caller must get back unchanged."""


ATTEMPTS = 3
"""botocore attempts per call in this campaign (the library's default client makes 5): fewer,
so that exhausting them, which waits out botocore's backoff, keeps the campaign short."""

EVERY_ATTEMPT = ATTEMPTS * (1 + len(_lock.COMPLETE_BACKOFF_S))
"""Faults enough to defeat botocore's attempts and idemlock's own retries of a complete."""

Fault = Callable[[TcpProxy], None]

FAULTS: dict[str, tuple[int, Fault]] = {
    # name: (weight in the draw, how to arm it)
    "none": (3, lambda proxy: None),
    "lost response": (3, lambda proxy: proxy.drop_next_responses(1)),
    "two lost responses": (1, lambda proxy: proxy.drop_next_responses(2)),
    "connection reset": (2, lambda proxy: proxy.reset_next_connections(1)),
    "throttled": (1, lambda proxy: proxy.fail_next_requests(1, "ThrottlingException")),
    "over capacity": (
        1,
        lambda proxy: proxy.fail_next_requests(1, "ProvisionedThroughputExceededException"),
    ),
    "lost on every attempt": (1, lambda proxy: proxy.drop_next_responses(EVERY_ATTEMPT)),
    "throttled on every attempt": (
        1,
        lambda proxy: proxy.fail_next_requests(EVERY_ATTEMPT, "ThrottlingException"),
    ),
}
NAMES = list(FAULTS)
WEIGHTS = [weight for weight, _ in FAULTS.values()]


@dataclass
class Ledger:
    """What happened, per key: body runs, results returned, typed errors by kind."""

    runs: Counter[str] = field(default_factory=Counter)
    returned: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)


@pytest.fixture(autouse=True)
def _short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore waits up to a second or more between attempts; the retries still happen here,
    without the wait, or the campaign would take minutes (a test-speed shortcut only)."""
    from botocore.retries import standard  # noqa: PLC0415

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.001)


@pytest.fixture(params=["dynamodb_local", "dynalite"])
def faulty(request: pytest.FixtureRequest) -> Iterator[tuple[DynamoDBStore, TcpProxy]]:
    """A fresh table reached through a fault-injecting proxy (botocore standard retries)."""
    endpoint: str = request.getfixturevalue(request.param)
    table = fresh_table(endpoint)
    port = urlsplit(endpoint).port
    assert port is not None
    with TcpProxy(port) as proxy:
        client = make_client(
            proxy.endpoint_url,
            read_timeout=1,
            connect_timeout=1,
            retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        )
        yield DynamoDBStore(table.table_name, client=client), proxy


def test_every_call_completes_once_or_fails_typed_leaving_the_key_bounded(
    faulty: tuple[DynamoDBStore, TcpProxy],
) -> None:
    """Random faults on claims, completes and releases: typed outcomes, no stuck key, one
    returned result per key, and extra body runs only after a call that reported an error."""
    store, proxy = faulty
    rng = random.Random(SEED)
    clock = ManualClock()
    ledger = Ledger()
    plan: dict[str, tuple[str, str, bool]] = {}

    @idempotent(lambda key: key, store=store, namespace="faults", clock=clock, lease=LEASE_S)
    def body(key: str) -> str:
        ledger.runs[key] += 1
        fault, where, fails = plan[key]
        if where == "after body":
            FAULTS[fault][1](proxy)
        if fails:
            raise BodyFailed(key)
        return f"result of {key}"

    for n in range(KEYS):
        key = f"k{n}"
        for _ in range(30):
            [fault] = rng.choices(NAMES, WEIGHTS)
            where = rng.choice(["on claim", "after body"])
            plan[key] = (fault, where, rng.random() < 0.2)
            ledger.faults[f"{fault} {where}"] += 1
            proxy.clear_faults()
            if where == "on claim":
                FAULTS[fault][1](proxy)
            try:
                value = body(key)
            except BodyFailed:
                ledger.errors["body failed"] += 1
            except InProgressError:
                ledger.errors["in progress"] += 1
                clock.advance(LEASE_S + 1)  # a redelivery after the lease
            except StoreError as exc:
                ledger.errors[type(exc).__name__] += 1
                if isinstance(exc, LockLostError):  # cannot happen without a takeover
                    raise
            else:
                assert value == f"result of {key}"
                ledger.returned[key] += 1
            proxy.clear_faults()
            assert_bounded(store, f"faults#{key}", clock)
            if ledger.returned[key]:
                break
        assert ledger.returned[key] == 1, key

    print(f"\nfault campaign (seed {SEED}): {sum(ledger.faults.values())} calls, {ledger.faults}")
    print(f"errors: {dict(ledger.errors)}; body runs: {sum(ledger.runs.values())} for {KEYS} keys")
    # A result is returned once per key; a key ran its body again only after a call that told
    # its caller it failed (the event would be redelivered, as Lambda does).
    assert set(ledger.returned.values()) == {1}
    extra_runs = sum(ledger.runs.values()) - KEYS
    assert extra_runs <= sum(ledger.errors.values())
    for n in range(KEYS):
        record = store.get(f"faults#k{n}")
        assert record is not None
        assert (record.status, record.result) == (LockStatus.COMPLETED, f'"result of k{n}"')
    # The campaign really injected the faults it drew.
    assert proxy.dropped + proxy.resets + proxy.errors_sent > 0


def assert_bounded(store: DynamoDBStore, key: str, clock: ManualClock) -> None:
    """The key is free, completed, or held no longer than a lease from now."""
    record = store.get(key)
    if record is None or record.status is LockStatus.COMPLETED:
        return
    assert record.lease_expires_at_ms is not None
    assert record.lease_expires_at_ms <= int(clock() * 1000) + LEASE_S * 1000


def test_a_latency_spike_past_the_read_timeout_is_a_typed_error_then_recovers(
    faulty: tuple[DynamoDBStore, TcpProxy],
) -> None:
    """Every attempt times out: StoreError, the claim (applied) bounded by its lease; after the
    lease, the next call runs once."""
    store, proxy = faulty
    clock = ManualClock()
    runs: list[str] = []

    @idempotent(lambda k: k, store=store, namespace="slow", clock=clock, lease=LEASE_S)
    def handler(key: str) -> str:
        runs.append(key)
        return "ok"

    proxy.latency = 0.6  # each way: a response takes 1.2 s, the client waits 1 s
    with pytest.raises(StoreError):
        handler("k")
    proxy.latency = 0
    assert_bounded(store, "slow#k", clock)

    try:
        first = handler("k")
    except InProgressError:
        clock.advance(LEASE_S + 1)
        first = handler("k")
    assert first == "ok"
    assert runs == ["k"]
