"""9. What recovery costs: waiting (``wait=``), recovery points (``idemlock.step``), ``refuse``.

On DynamoDB Local, each call's round trips are counted as section 1 counts them
(``tests/round_trips.py``) and its capacity units as section 7 does (:class:`CapacityMeter`: the
units each response reports, and a failed conditional write by DynamoDB's rule, the size of the
item it found and at least one unit).

- **Steps**: a payments body (charge, then receipt, then ledger) with 0, 1 and 3 steps, first
  run; the same three steps with 1 KB results (the item holds every recorded step, and each step's
  write rewrites them all); and a run that fails after its second step, then its retry, which
  replays two steps and runs the third. Powertools has no steps: beside them, its failure and
  retry of the same body, which runs the charge again.
- **Waiting**: a duplicate with ``wait=10`` arrives while a first call's body runs for 0.5, 2 and
  5 s. The first call talks through its own client, so only the waiter is counted: its reads per
  second of waiting, units, and writes after its first claim (0 while the lease is live), and
  the lag from the first call's complete (its ``completed`` event) to the waiter's return.
- **A hot key**: 1, 10 and 50 threads wait on one key at once while a first call holds it for a
  few seconds: reads per second in all, and writes after their first claims (0: no write storm).
- **Refuse**: what ``on_lease_expired="refuse"`` costs when a claim finds a lapsed lease (a failed
  claim, then the mark), on a key already marked, and, beside them, ``take_over``.
- **A client's retry while in progress**, both libraries: Powertools has no ``wait``, so a client
  that wants the first result retries, and each retry is one conditional write that fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import idemlock
from benchmarks.capacity import CapacityMeter, json_document
from benchmarks.common import LIBRARIES, RESULTS, ROOT, create_table, machine, make_client, unique
from benchmarks.paths import call, check, setup
from benchmarks.subjects import LastKey, context, make_subject
from idemlock import DynamoDBStore, idempotent
from idemlock._waiting import FIRST_PAUSE_MS, MAX_PAUSE_MS  # the schedule measured here
from idemlock.errors import OutcomeUnknownError
from idemlock.events import LockEvent
from idemlock.store import Claim
from tests.round_trips import RoundTrips  # counted the way the tests count
from tests.servers import start_dynamodb_local

WAIT_S = 10
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


@dataclass(frozen=True)
class Sizes:
    """How much to run."""

    holds_s: tuple[float, ...]
    hold_repeats: int
    waiters: tuple[int, ...]
    hot_hold_s: float


FULL = Sizes(holds_s=(0.5, 2.0, 5.0), hold_repeats=3, waiters=(1, 10, 50), hot_hold_s=3.0)
QUICK = Sizes(holds_s=(0.5, 2.0), hold_repeats=1, waiters=(1, 10), hot_hold_s=1.0)


def per_second(count: float, seconds: float) -> float:
    """``count`` spread over ``seconds``: a rate, 0 for no time at all."""
    return count / seconds if seconds > 0 else 0.0


def writes_after_claims(operations: list[str], claims: int) -> int:
    """The writes among ``operations`` beyond the first ``claims`` (each waiter's one claim)."""
    return max(sum(name in WRITES for name in operations) - claims, 0)


def expected_reads(waited_s: float) -> int:
    """The reads a waiter sends in ``waited_s`` by the schedule, each pause its mean.

    A pause is drawn from the upper half of its ceiling (mean: three quarters of it); the
    ceiling starts at ``FIRST_PAUSE_MS`` and doubles up to ``MAX_PAUSE_MS``.
    """
    reads, elapsed_ms, ceiling_ms = 0, 0.0, float(FIRST_PAUSE_MS)
    while True:
        elapsed_ms += ceiling_ms * 3 / 4
        if elapsed_ms > waited_s * 1000:
            return reads
        reads += 1
        ceiling_ms = min(ceiling_ms * 2, MAX_PAUSE_MS)


class Counter:
    """Round trips and capacity units of one client's requests, inside a block."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.meter = CapacityMeter(client)
        self.trips = RoundTrips()

    @contextlib.contextmanager
    def counting(self) -> Iterator[dict[str, Any]]:
        """Yield a dict that holds the block's figures once the block ends."""
        figures: dict[str, Any] = {}
        with self.meter.measuring(), self.trips.counting(self.client):
            yield figures
        figures.update(
            round_trips=self.trips.count,
            operations=list(self.trips.operations),
            wcu=self.meter.write,
            rcu=self.meter.read,
            failed_writes=self.meter.failed_writes,
        )


class Calls:
    """How often each of a body's side effects ran, by name."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def effect(self, name: str, value: Any = None) -> Callable[..., Any]:
        """A side effect that counts its runs and returns ``value`` (or ``name``'s id)."""

        def run(*_: Any) -> Any:
            with self._lock:
                self.counts[name] = self.counts.get(name, 0) + 1
            return f"{name}_1" if value is None else value

        return run


# -- steps -----------------------------------------------------------------------------------


STEP_NAMES = ("charge", "receipt", "ledger")


def _step_body(calls: Calls, steps: int, value: Any, fail_after: list[int]) -> Callable[..., Any]:
    """A body taking ``steps`` steps; it raises after step ``fail_after[0]`` once, if asked."""

    def body(order: str) -> Any:
        last = None
        for number, name in enumerate(STEP_NAMES[:steps], start=1):
            last = idemlock.step(name, calls.effect(name, value), order)
            if fail_after and fail_after[0] == number:
                fail_after.clear()
                raise ConnectionError("the mail server is down")
        return last

    return body


def _steps_run(counter: Counter, table: str, steps: int, value: Any, fail_after: int) -> Any:
    """One key: a first run (failing after step ``fail_after``, if not 0), then its retry."""
    calls = Calls()
    pending = [fail_after] if fail_after else []
    store = DynamoDBStore(table, client=counter.client)
    handler = idempotent(lambda order: order, store=store, namespace=unique("steps"))(
        _step_body(calls, steps, value, pending)
    )
    order = unique("order")
    rows: dict[str, Any] = {}
    with counter.counting() as rows["first_run"], contextlib.suppress(ConnectionError):
        handler(order)
    if fail_after:
        with counter.counting() as rows["retry"]:
            handler(order)
    if any(count != 1 for count in calls.counts.values()) or len(calls.counts) != steps:
        raise AssertionError(f"a step ran other than once: {calls.counts}")
    return rows


def steps(client: Any, table: str) -> dict[str, Any]:
    """Per shape: the first run's (and the retry's) round trips and units."""
    counter = Counter(client)
    results: dict[str, Any] = {}
    for count, shape in ((0, "no step"), (1, "1 step"), (3, "3 steps")):
        results[shape] = _steps_run(counter, table, count, None, 0)
    results["3 steps of 1 KB"] = _steps_run(counter, table, 3, json_document(1024), 0)
    results["3 steps, failing after step 2"] = _steps_run(counter, table, 3, None, 2)
    results["powertools, failing after the charge"] = _powertools_retry(client, table)
    return results


def _powertools_retry(client: Any, table: str) -> dict[str, Any]:
    """Powertools' failure after the charge and its retry: the retry charges again."""
    subject = make_subject("powertools", client, table, unique("ns"))
    counter = Counter(subject.client)
    calls, failing = Calls(), [True]

    def body(event: dict[str, Any]) -> Any:
        charge_id = calls.effect("charge")(event)
        if failing:
            failing.clear()
            raise ConnectionError("the mail server is down")
        return charge_id

    subject.slot.body = body
    event = {"order_id": unique("order"), "amount": 42}
    rows: dict[str, Any] = {}
    with counter.counting() as rows["first_run"], contextlib.suppress(ConnectionError):
        subject.handler(event, context())
    with counter.counting() as rows["retry"]:
        subject.handler(event, context())
    rows["charges"] = calls.counts["charge"]
    return rows


# -- waiting ---------------------------------------------------------------------------------


class Holder:
    """A first call holding one key for ``hold_s``, on its own client (so it is not counted)."""

    def __init__(self, endpoint_url: str, table: str, namespace: str, hold_s: float) -> None:
        self.claimed = threading.Event()
        self.completed_at = 0.0
        self.runs = 0
        self._client = make_client(endpoint_url)
        store = DynamoDBStore(table, client=self._client)

        @idempotent(lambda order: order, store=store, namespace=namespace, on_event=self._seen)
        def checkout(order: str) -> dict[str, str]:
            self.runs += 1
            self.claimed.set()
            time.sleep(hold_s)  # the card network takes its time
            return {"charge": f"ch_{order}"}

        self._checkout = checkout
        self._thread: threading.Thread | None = None

    def _seen(self, event: LockEvent) -> None:
        if event.kind == "completed":
            self.completed_at = time.perf_counter()

    def start(self, order: str) -> None:
        """Call in a thread; return once the body runs (the key is claimed)."""
        self._thread = threading.Thread(target=self._checkout, args=(order,))
        self._thread.start()
        if not self.claimed.wait(30):
            raise AssertionError("the first call never claimed its key")

    def join(self) -> None:
        """Wait for the first call, and close its client."""
        assert self._thread is not None
        self._thread.join()
        self._client.close()


def _waiter(client: Any, table: str, namespace: str) -> Callable[[str], Any]:
    """The duplicate: the same key and namespace, ``wait=10``, on the counted client."""
    store = DynamoDBStore(table, client=client)

    @idempotent(lambda order: order, store=store, namespace=namespace, wait=WAIT_S)
    def checkout(order: str) -> dict[str, str]:
        raise AssertionError("a waiter ran the body: the first call was still running")

    return checkout


def _wait_once(endpoint_url: str, counter: Counter, table: str, hold_s: float) -> dict[str, Any]:
    """One duplicate waiting for a first call that holds the key ``hold_s``."""
    namespace, order = unique("wait"), unique("order")
    holder = Holder(endpoint_url, table, namespace, hold_s)
    waiter = _waiter(counter.client, table, namespace)
    holder.start(order)
    started = time.perf_counter()
    with counter.counting() as figures:
        value = waiter(order)
    returned = time.perf_counter()
    holder.join()
    if value != {"charge": f"ch_{order}"} or holder.runs != 1:
        raise AssertionError(f"the waiter got {value!r}; the body ran {holder.runs} times")
    waited_s = returned - started
    reads = figures["operations"].count("GetItem")
    return {
        "waited_s": waited_s,
        "reads": reads,
        "reads_per_s": per_second(reads, waited_s),
        "expected_reads": expected_reads(waited_s),
        "rcu_per_s": per_second(figures["rcu"], waited_s),
        "writes_while_waiting": writes_after_claims(figures["operations"], 1),
        "lag_ms": (returned - holder.completed_at) * 1000,
        **figures,
    }


def waiting(endpoint_url: str, table: str, sizes: Sizes) -> dict[str, Any]:
    """Per hold: each repeat's figures, and their medians."""
    client = make_client(endpoint_url)
    counter = Counter(client)
    results: dict[str, Any] = {}
    try:
        for hold_s in sizes.holds_s:
            runs = [
                _wait_once(endpoint_url, counter, table, hold_s) for _ in range(sizes.hold_repeats)
            ]
            results[f"{hold_s:g}"] = {"hold_s": hold_s, "runs": runs, **_medians(runs)}
    finally:
        client.close()
    return results


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over repeats; the largest lag and writes while waiting."""
    figures = (
        "waited_s",
        "reads",
        "expected_reads",
        "reads_per_s",
        "rcu",
        "rcu_per_s",
        "wcu",
        "round_trips",
    )
    medians = {name: statistics.median(run[name] for run in runs) for name in figures}
    medians["lag_ms"] = statistics.median(run["lag_ms"] for run in runs)
    medians["lag_ms_max"] = max(run["lag_ms"] for run in runs)
    medians["writes_while_waiting"] = max(run["writes_while_waiting"] for run in runs)
    return medians


def hot_key(endpoint_url: str, table: str, sizes: Sizes) -> dict[str, Any]:
    """Per number of waiters: reads a second in all, and writes after their first claims."""
    results: dict[str, Any] = {}
    for waiters in sizes.waiters:
        client = make_client(endpoint_url, max_pool_connections=waiters + 4)
        try:
            results[str(waiters)] = _hot_once(
                endpoint_url, Counter(client), table, waiters, sizes.hot_hold_s
            )
        finally:
            client.close()
    return results


def _hot_once(
    endpoint_url: str, counter: Counter, table: str, waiters: int, hold_s: float
) -> dict[str, Any]:
    namespace, order = unique("hot"), unique("order")
    holder = Holder(endpoint_url, table, namespace, hold_s)
    waiter = _waiter(counter.client, table, namespace)
    holder.start(order)
    started = time.perf_counter()
    with counter.counting() as figures, ThreadPoolExecutor(waiters) as pool:
        values = list(pool.map(waiter, [order] * waiters))
    waited_s = time.perf_counter() - started
    holder.join()
    if any(value != {"charge": f"ch_{order}"} for value in values) or holder.runs != 1:
        raise AssertionError(f"hot key: the body ran {holder.runs} times; got {values[:3]!r}...")
    reads = figures["operations"].count("GetItem")
    return {
        "waiters": waiters,
        "hold_s": hold_s,
        "waited_s": waited_s,
        "reads": reads,
        "reads_per_s": per_second(reads, waited_s),
        "reads_per_s_per_waiter": per_second(reads, waited_s * waiters),
        "rcu_per_s": per_second(figures["rcu"], waited_s),
        "writes_while_waiting": writes_after_claims(figures["operations"], waiters),
        "wcu": figures["wcu"],
        "rcu": figures["rcu"],
        "round_trips": figures["round_trips"],
        "failed_writes": figures["failed_writes"],
    }


# -- refuse, and a client's retry ------------------------------------------------------------


def _lapsed(store: DynamoDBStore, key: str) -> None:
    """The claim an invocation Lambda stopped leaves: IN_PROGRESS, its lease over a minute ago."""
    now_ms = int(time.time() * 1000)
    claim = Claim(
        key, uuid.uuid4().hex, now_ms - 120_000, 1, now_ms - 60_000, now_ms // 1000 + 3600
    )
    if not store.claim(claim).acquired:
        raise AssertionError(f"{key}: the lapsed claim was not written")


def refuse(client: Any, table: str) -> dict[str, Any]:
    """The claim that finds a lapsed lease: refused and marked, marked already, taken over."""
    counter = Counter(client)
    admin = DynamoDBStore(table, client=make_client(client.meta.endpoint_url))
    runs: list[str] = []
    handlers = {
        mode: idempotent(
            lambda withdrawal: withdrawal,
            store=DynamoDBStore(table, client=client),
            namespace="payouts",
            on_lease_expired=mode,
        )(runs.append)
        for mode in ("refuse", "take_over")
    }
    results: dict[str, Any] = {}
    withdrawal = unique("w")
    _lapsed(admin, f"payouts#{withdrawal}")
    for row in ("refuse: finds the lapsed lease", "refuse: the key is marked already"):
        with counter.counting() as results[row], contextlib.suppress(OutcomeUnknownError):
            handlers["refuse"](withdrawal)
    withdrawal = unique("w")
    _lapsed(admin, f"payouts#{withdrawal}")
    with counter.counting() as results["take_over: runs the body again"]:
        handlers["take_over"](withdrawal)
    admin.client.close()
    if runs != [withdrawal]:
        raise AssertionError(f"refuse ran a body, or take_over did not: {runs}")
    return results


def retry_in_progress(client: Any) -> dict[str, Any]:
    """Per library: one call that finds the key in progress (a client's retry)."""
    results: dict[str, Any] = {}
    for library in LIBRARIES:
        table = create_table(client, f"busy-{library}")
        subject = make_subject(library, client, table, unique("ns"))
        counter = Counter(subject.client)
        last_key = LastKey(subject.client)
        event = setup(subject, "duplicate_in_progress", subject.client, table, last_key.get)
        with counter.counting() as results[library]:
            outcome = call(subject, event)
        check(subject, "duplicate_in_progress", outcome)
    return results


def measure(endpoint_url: str, *, quick: bool) -> dict[str, Any]:
    """Every measurement of this section, for the results document."""
    sizes = QUICK if quick else FULL
    client = make_client(endpoint_url)
    try:
        table = create_table(client, "recovery")
        return {
            "wait_s": WAIT_S,
            "steps": steps(client, table),
            "waiting": waiting(endpoint_url, table, sizes),
            "hot_key": hot_key(endpoint_url, table, sizes),
            "refuse": refuse(client, table),
            "retry_in_progress": retry_in_progress(client),
        }
    finally:
        client.close()


# -- the report ------------------------------------------------------------------------------


def _units(row: dict[str, Any]) -> str:
    return f"{row['round_trips']} | {row['wcu']:g} | {row['rcu']:g}"


def markdown(results: dict[str, Any]) -> str:
    """The section's four tables, for benchmarks/README.md."""
    tables = (_steps_table, _waiting_table, _hot_key_table, _refuse_table)
    return "\n\n".join("\n".join(table(results)) for table in tables)


def _steps_table(results: dict[str, Any]) -> list[str]:
    lines = ["| steps: call | round trips | write units | read units |", "|---|---:|---:|---:|"]
    for shape, rows in results["steps"].items():
        for run, label in (("first_run", "first run"), ("retry", "retry")):
            if run in rows:
                charges = rows.get("charges") if run == "retry" else None
                charged = f" (the card charged {charges} times)" if charges else ""
                lines.append(f"| {shape}: {label}{charged} | {_units(rows[run])} |")
    return lines


def _waiting_table(results: dict[str, Any]) -> list[str]:
    lines = [
        f"| waiting (`wait={results['wait_s']}`) for a body of | waited s | reads"
        " (by the schedule) | reads/s | read units/s | write units | writes while waiting"
        " | round trips | lag after complete, ms (median, max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for hold, row in results["waiting"].items():
        lines.append(
            f"| {hold} s | {row['waited_s']:.2f} | {row['reads']:g} ({row['expected_reads']:g})"
            f" | {row['reads_per_s']:.2f}"
            f" | {row['rcu_per_s']:.2f} | {row['wcu']:g} | {row['writes_while_waiting']}"
            f" | {row['round_trips']:g} | {row['lag_ms']:.0f}, {row['lag_ms_max']:.0f} |"
        )
    return lines


def _hot_key_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| hot key: waiters | waited s | reads in all | reads/s in all | reads/s per waiter"
        " | write units | writes while waiting |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["hot_key"].values():
        lines.append(
            f"| {row['waiters']} | {row['waited_s']:.2f} | {row['reads']}"
            f" | {row['reads_per_s']:.1f} | {row['reads_per_s_per_waiter']:.2f}"
            f" | {row['wcu']:g} | {row['writes_while_waiting']} |"
        )
    return lines


def _refuse_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| lapsed lease, or key in progress | round trips | write units | read units |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {_units(row)} |" for name, row in results["refuse"].items()]
    lines += [
        f"| {library}: a client's retry while in progress | {_units(row)} |"
        for library, row in results["retry_in_progress"].items()
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.recovery [--quick]``: this section alone, into recovery.json."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recovery", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer holds, repeats and waiters")
    parser.add_argument("--output", type=Path, default=RESULTS / "recovery.json")
    args = parser.parse_args(argv)
    local = start_dynamodb_local(ROOT)
    try:
        results = {"meta": machine(), "recovery": measure(local.endpoint_url, quick=args.quick)}
    finally:
        local.stop()
    results["meta"].update(
        date=datetime.date.today().isoformat(),
        command="python -m benchmarks.recovery" + (" --quick" if args.quick else ""),
        quick=args.quick,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results["recovery"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
