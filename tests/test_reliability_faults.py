"""Network faults between the client and DynamoDB Local, injected by a TCP proxy.

A seeded campaign: keys are processed until they complete, each call with a fault picked at
random on the claim or on the complete/release — a response lost after the server applied the
write, a connection reset before it arrived, a throttling error, a latency spike past the read
timeout, or a body failure. Whatever happens, every call returns the value or raises a typed
error (or the body's own), the key is never left locked past a lease, and the body's result is
returned once per key. CI runs a bounded campaign; ``IDEMLOCK_SOAK=N`` multiplies it.

A second campaign runs bodies under ``heartbeat=`` while the faults also hit the heartbeat's own
extensions, and a rival worker tries the key while each body runs (see
:func:`test_heartbeats_under_faults_keep_or_lose_the_key_visibly_never_two_bodies_at_once`).

botocore runs in standard retry mode (the library's default, set here explicitly): throttling,
5xx and connection errors are retried with jittered backoff (the library's default client
makes 5 attempts; this campaign's client 3, to keep it short).
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

from idemlock import DynamoDBStore, Lock, _protocol, current_lock, idempotent
from idemlock.errors import InProgressError, LockLostError, StoreError
from idemlock.events import LockEvent
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

EVERY_ATTEMPT = ATTEMPTS * (1 + len(_protocol.COMPLETE_BACKOFF_S))
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


@pytest.fixture(
    params=[pytest.param(s, marks=pytest.mark.servers) for s in ("dynamodb_local", "dynalite")]
)
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


@pytest.mark.slow
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
            # LockLostError is not a StoreError: with no takeover here, it fails the test.
            except StoreError as exc:
                ledger.errors[type(exc).__name__] += 1
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


def assert_bounded(
    store: DynamoDBStore, key: str, clock: ManualClock, lease_s: float = LEASE_S
) -> None:
    """The key is free, completed, or held no longer than a lease from now."""
    record = store.get(key)
    if record is None or record.status is LockStatus.COMPLETED:
        return
    assert record.lease_expires_at_ms is not None
    assert record.lease_expires_at_ms <= int(clock() * 1000) + int(lease_s * 1000)


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


# -- heartbeats under faults ---------------------------------------------------------------------

HB_KEYS = 16 * SOAK
HB_LEASE_S = 1
"""The heartbeat campaign's lease, on a ManualClock: a lease ends when the campaign moves the
clock past it, never because a loaded machine ran slowly, so which rival may take a key over is
decided by the plan, not by timing. The heartbeat's own period is real time."""

BEAT_S = 0.05
"""The heartbeat's period (real seconds): short, so that a body's beats take little wall time."""

STEPS = 3
"""A body moves the clock half a lease this many times, one beat each: it runs 1.5 leases."""

WAIT_S = 30.0
"""How long a body waits for its heartbeat's next attempt. Only a heartbeat that stopped beating
waits this long (and fails the test); a slow machine waits a period or two."""

EVERY_BEAT = 10_000
"""Faults enough for every extension a body's heartbeat tries until the body disarms them."""


class BeatFault(NamedTuple):
    """A fault on the heartbeat's extensions."""

    weight: int
    arm: Fault
    every: bool = False
    """Armed once for the whole body, defeating every extension; else armed once per beat and
    absorbed by botocore's retries."""
    applied: bool = False
    """The failed extensions still reached the table (their responses were lost)."""


def _slow(proxy: TcpProxy) -> None:
    # Each way: a beat is still in flight across a period, well inside the read timeout.
    proxy.latency = 0.05


BEAT_FAULTS: dict[str, BeatFault] = {
    "none": BeatFault(2, lambda proxy: None),
    "lost response": BeatFault(2, lambda proxy: proxy.drop_next_responses(1)),
    "two lost responses": BeatFault(1, lambda proxy: proxy.drop_next_responses(2)),
    "connection reset": BeatFault(2, lambda proxy: proxy.reset_next_connections(1)),
    "throttled": BeatFault(1, lambda proxy: proxy.fail_next_requests(1, "ThrottlingException")),
    "slow": BeatFault(1, _slow),
    # Every extension fails, so the lease from the claim lapses while the body runs.
    "lost on every beat": BeatFault(
        2, lambda proxy: proxy.drop_next_responses(EVERY_BEAT), every=True, applied=True
    ),
    "reset on every beat": BeatFault(
        2, lambda proxy: proxy.reset_next_connections(EVERY_BEAT), every=True
    ),
    "throttled on every beat": BeatFault(
        1, lambda proxy: proxy.fail_next_requests(EVERY_BEAT, "ThrottlingException"), every=True
    ),
}
BEAT_NAMES = list(BEAT_FAULTS)
BEAT_WEIGHTS = [fault.weight for fault in BEAT_FAULTS.values()]

DEFEATING = {"lost on every attempt", "throttled on every attempt"}
"""The FAULTS no retry gets past: a complete (or a release) under one raises StoreError."""

BEAT_OUTCOMES = ("extended", "store_error", "lock_lost")
"""The events a beat ends with: it extended the lease, failed, or found another owner."""


class Plan(NamedTuple):
    """One call of the heartbeat campaign, drawn from the seed."""

    claim: str
    """A FAULTS name, armed before the call (it hits the claim)."""
    beats: str
    """A BEAT_FAULTS name, armed while the body runs (it hits the heartbeat's extensions)."""
    rival: bool
    """Whether another worker tries the key once the body has run 1.5 leases."""
    complete: str
    """A FAULTS name, armed as the body ends (it hits the complete or the release)."""
    fails: bool


@dataclass
class Seen:
    """What one call's body saw: its lock, and how the rival's try ended ("ran", "in progress")."""

    lock: Lock | None = None
    rival: str | None = None


class Events:
    """A thread-safe ``on_event`` sink that a body can wait on for its heartbeat's next beat."""

    def __init__(self) -> None:
        self.events: list[LockEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: LockEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def mark(self) -> int:
        """How many events so far: where :meth:`next` starts looking."""
        with self._changed:
            return len(self.events)

    def next(self, since: int, kinds: tuple[str, ...] = BEAT_OUTCOMES) -> str:
        """The kind of the first of ``kinds`` after the first ``since`` events (waits for it)."""

        def found() -> str | None:
            return next((event.kind for event in self.events[since:] if event.kind in kinds), None)

        with self._changed:
            kind = self._changed.wait_for(found, WAIT_S)
        assert kind is not None, f"no {kinds} in {WAIT_S} s: the heartbeat stopped beating"
        return kind

    def completed(self) -> Counter[str]:
        """Completions per stored key."""
        with self._changed:
            return Counter(event.key for event in self.events if event.kind == "completed")


class Bodies:
    """The bodies running now, per key: a second body of a key may start only past the first's
    lease (its extensions failed and the clock passed the lease it knew of: a takeover)."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self._guard = threading.Lock()
        self._running: dict[str, list[Lock]] = {}
        self.overlaps = 0

    def enter(self, key: str, lock: Lock) -> None:
        with self._guard:
            holders = self._running.setdefault(key, [])
            for holder in holders:
                # The holder's own view of its lease is never later than the table's (a lost
                # response may have extended it there), so a takeover implies this.
                assert holder.lease_expires_at_ms < int(self._clock() * 1000), (key, holder)
                self.overlaps += 1
            holders.append(lock)

    def leave(self, key: str, lock: Lock) -> None:
        with self._guard:
            self._running[key].remove(lock)


def heartbeat_threads() -> list[threading.Thread]:
    """The heartbeat threads alive now."""
    return [thread for thread in threading.enumerate() if thread.name == "idemlock-heartbeat"]


def contend(rival: Callable[[str], str], key: str) -> str:
    """Another worker's try at ``key``, on a thread of its own: how it ended."""
    outcome: list[str] = []

    def attempt() -> None:
        try:
            rival(key)
        except InProgressError:
            outcome.append("in progress")
        except BaseException as exc:  # reported, and failed on, by the caller
            outcome.append(f"raised {exc!r}")
        else:
            outcome.append("ran")

    worker = threading.Thread(target=attempt, name="rival")
    worker.start()
    worker.join(WAIT_S)
    assert outcome, "the rival worker neither ran nor was refused"
    assert outcome[0] in ("ran", "in progress"), outcome[0]
    return outcome[0]


class HeartbeatCampaign:
    """The heartbeat campaign's state: a body behind the proxy, a rival worker beside it."""

    def __init__(self, store: DynamoDBStore, proxy: TcpProxy) -> None:
        self.store, self.proxy = store, proxy
        self.rng = random.Random(SEED)
        self.clock = ManualClock()
        self.events, self.rival_events = Events(), Events()
        self.bodies = Bodies(self.clock)
        self.plans: dict[str, Plan] = {}
        self.calls: list[Seen] = []
        self.outcomes: Counter[str] = Counter()
        self.endings: Counter[str] = Counter()
        """How bodies whose every extension failed went on: "extended" or "lock_lost"."""
        options: dict[str, Any] = {
            "namespace": "beats",
            "clock": self.clock,
            "lease": HB_LEASE_S,
            "heartbeat": BEAT_S,
        }

        # Functions, not bound methods: wrapt would hand a bound method's `self` to key_fn.
        def body(key: str) -> str:
            return self._body(key)

        def rival(key: str) -> str:
            return self._rival(key)

        self.body = idempotent(lambda key: key, store=store, on_event=self.events, **options)(body)
        # Another worker: its own client, straight to the server (the faults are on our path).
        direct = DynamoDBStore(
            store.table_name, client=make_client(f"http://127.0.0.1:{proxy.upstream_port}")
        )
        self.rival = idempotent(
            lambda key: key, store=direct, on_event=self.rival_events, **options
        )(rival)

    def _body(self, key: str) -> str:
        self.proxy.clear_faults()  # what the claim's fault left armed is not for the extensions
        plan, seen = self.plans[key], self.calls[-1]
        lock = current_lock()
        assert lock is not None
        seen.lock = lock
        self.bodies.enter(key, lock)
        try:
            [heartbeat] = heartbeat_threads()  # its own, and none left over from another call
            self._run_past_the_lease(plan, seen, key)
            if BEAT_FAULTS[plan.beats].every:
                self._beat_again(plan, seen, heartbeat)
            self.proxy.clear_faults()  # the "slow" latency
            FAULTS[plan.complete][1](self.proxy)
            if plan.fails:
                raise BodyFailed(key)
            return f"result of {key}"
        finally:
            self.bodies.leave(key, lock)

    def _run_past_the_lease(self, plan: Plan, seen: Seen, key: str) -> None:
        """1.5 leases, one beat per half lease under the plan's fault; then the rival's try."""
        fault = BEAT_FAULTS[plan.beats]
        if fault.every:
            fault.arm(self.proxy)
        for _ in range(STEPS):
            if not fault.every:
                fault.arm(self.proxy)
            since = self.events.mark()
            # The body works on: the next beat has a lease to gain, so it calls the table.
            self.clock.advance(HB_LEASE_S / 2)
            assert self.events.next(since) == ("store_error" if fault.every else "extended"), plan
        if plan.rival:
            seen.rival = contend(self.rival, key)
            if not fault.every:
                assert seen.rival == "in progress", plan  # the heartbeat held the key
            elif not fault.applied:
                assert seen.rival == "ran", plan  # no extension reached the table

    def _beat_again(self, plan: Plan, seen: Seen, heartbeat: threading.Thread) -> None:
        """The network is back: the next beat extends the lease, or finds the rival's claim."""
        lock = seen.lock
        assert lock is not None
        since = self.events.mark()
        self.proxy.clear_faults()
        taken = seen.rival == "ran"
        ending = self.events.next(since, ("extended", "lock_lost"))
        assert ending == ("lock_lost" if taken else "extended"), plan
        assert lock.lost is taken
        self.endings[ending] += 1
        if taken:  # a lost lock stops the heartbeat, before the body ends
            heartbeat.join(WAIT_S)
            assert not heartbeat.is_alive()

    def _rival(self, key: str) -> str:
        lock = current_lock()
        assert lock is not None
        self.bodies.enter(key, lock)  # checks that a body it overlaps had lost its lease
        self.bodies.leave(key, lock)
        return f"rival's result of {key}"

    def deliver(self, key: str) -> str:
        """One delivery of ``key`` under a plan drawn from the seed: how it ended."""
        self.plans[key] = plan = Plan(
            claim=self.rng.choices(NAMES, WEIGHTS)[0],
            beats=self.rng.choices(BEAT_NAMES, BEAT_WEIGHTS)[0],
            rival=self.rng.random() < 0.75,
            complete=self.rng.choices(NAMES, WEIGHTS)[0],
            fails=self.rng.random() < 0.2,
        )
        self.calls.append(Seen())
        self.proxy.clear_faults()
        FAULTS[plan.claim][1](self.proxy)
        value = None
        try:
            value = self.body(key)
        except BodyFailed:
            outcome = "body failed"
        except InProgressError:
            outcome = "in progress"
            self.clock.advance(HB_LEASE_S + 1)  # a redelivery after the lease
        except LockLostError:
            outcome = "lock lost"
        except StoreError:
            outcome = "store error"
        else:
            outcome = "returned"
            assert value in (f"result of {key}", f"rival's result of {key}")
        self.proxy.clear_faults()
        self.outcomes[outcome] += 1
        assert heartbeat_threads() == []  # a heartbeat never outlives its call
        assert_expected(self.calls[-1], plan, outcome, value, key)
        assert_bounded(self.store, f"beats#{key}", self.clock, HB_LEASE_S)
        return outcome


@pytest.mark.slow
def test_heartbeats_under_faults_keep_or_lose_the_key_visibly_never_two_bodies_at_once(
    faulty: tuple[DynamoDBStore, TcpProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bodies run 1.5 leases under ``heartbeat=`` while faults hit the claim, the extensions and
    the complete, and a rival worker (not behind the proxy) tries the key mid-body.

    Extensions that botocore's retries get through keep the key: the rival is refused. When
    every extension fails, the lease lapses: with no rival the body completes (the next beat
    extends the lease again); after a rival's takeover the next beat finds the new owner, the
    body's lock says ``lost``, its heartbeat stops, and its complete raises LockLostError. Two
    bodies of a key overlap only in that case; a heartbeat thread never outlives its call; every
    failure is typed; a key is completed once and never left locked past a lease.
    """
    from botocore.retries import standard  # noqa: PLC0415

    # botocore's retry quota, a client-wide breaker for a real outage, drains under the
    # every-beat faults (14 tokens a retry, 1 back a success) and would then refuse the retries
    # that absorb the single faults of later calls: the calls here are independent deliveries.
    monkeypatch.setattr(standard.RetryQuotaChecker, "acquire_retry_quota", lambda self, c: True)
    store, proxy = faulty
    campaign = HeartbeatCampaign(store, proxy)
    for n in range(HB_KEYS):  # redelivered until a delivery returns (stops at the first)
        if "returned" not in (campaign.deliver(f"h{n}") for _ in range(30)):
            pytest.fail(f"h{n} never completed")

    rivals = Counter(seen.rival for seen in campaign.calls if seen.rival is not None)
    print(
        f"\nheartbeat campaign (seed {SEED}): {len(campaign.calls)} calls, "
        f"outcomes {dict(campaign.outcomes)}; rivals {dict(rivals)}; "
        f"after every extension failed: {dict(campaign.endings)}"
    )
    # One completion per key at most (a lost lock's complete refused), and the stored result is
    # the one its completer returned.
    by_rival = campaign.rival_events.completed()
    assert max((campaign.events.completed() + by_rival).values()) == 1
    for n in range(HB_KEYS):
        record = store.get(f"beats#h{n}")
        assert record is not None
        assert record.status is LockStatus.COMPLETED
        mine = "rival's result" if by_rival[f"beats#h{n}"] else "result"
        assert record.result == f'"{mine} of h{n}"'
    # The campaign went where it means to: extensions held the key against a rival, failed ones
    # lost it to a takeover, and failed ones with nobody waiting let the body complete.
    assert rivals["in progress"] > 0
    assert rivals["ran"] == campaign.bodies.overlaps > 0
    assert campaign.endings["extended"] > 0
    assert proxy.dropped + proxy.resets + proxy.errors_sent > 0


def assert_expected(seen: Seen, plan: Plan, outcome: str, value: str | None, key: str) -> None:
    """A call that ran its body ended as its plan says: LockLostError only after a takeover, a
    value only without one, and ``lost`` set exactly when the rival took the key over."""
    if seen.lock is None:  # refused, failed claiming, or a duplicate: no body, no heartbeat
        assert outcome in ("in progress", "store error", "returned"), (plan, outcome)
        return
    taken = seen.rival == "ran"
    assert seen.lock.lost is taken, plan
    if plan.fails:
        expected = "body failed"  # the body's own error, whatever the release met
    elif plan.complete in DEFEATING:
        expected = "store error"
    else:
        expected = "lock lost" if taken else "returned"
    assert outcome == expected, (plan, seen, outcome)
    if outcome == "returned":
        assert value == f"result of {key}"
