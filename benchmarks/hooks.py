"""8. What watching costs: ``on_event`` sinks, and heartbeats.

- **Sinks**: idemlock's library code per call (section 2's in-memory stand-in, its own time taken
  out) with no ``on_event``, with a no-op ``on_event``, and with ``CloudWatchMetrics`` (its EMF
  lines written to a string buffer instead of stdout), the variants interleaved path by path.
  No sink and DEBUG off is the default: no event is even built then.
- **Events stripped** (a diagnostic): the no-hook subject again, with ``Policy.emit``
  swapped for a do-nothing function of the same signature while that variant's samples run. "no
  hook" minus "events stripped", paired repeat by repeat, is what the event plumbing costs when
  nobody listens: ``emit``'s two checks (a sink? a logger level enabled?) at each transition.
  What stays in both: the calls to ``emit`` themselves and the body's timing (``RunBody``'s two
  ``perf_counter`` reads), which only a change to the library could take out.
- **Heartbeats**: a body held for a few seconds on DynamoDB Local under ``heartbeat=True``; the
  extensions it sent per minute, for two leases (the period is a third of the lease, so the rate
  is 180 per minute divided by the lease in seconds).
"""

from __future__ import annotations

import contextlib
import gc
import io
import statistics
import time
from collections.abc import Iterator
from typing import Any

from benchmarks.common import PATHS, create_table, make_client, summary, unique
from benchmarks.fakeclient import FakeDynamoDB
from benchmarks.overhead import TABLE, sample
from benchmarks.subjects import idemlock_subject
from idemlock import DynamoDBStore, idempotent
from idemlock._policy import Policy
from idemlock.events import EventKind, LockEvent
from idemlock.item import LockItem
from idemlock.lock import Lock
from idemlock.metrics import CloudWatchMetrics

VARIANTS = ("no hook", "events stripped", "no-op on_event", "CloudWatchMetrics")
STRIPPED = "events stripped"
"""The no-hook subject with ``emit`` doing nothing: the floor that "no hook" is read against."""


def _noop(event: LockEvent) -> None:
    """The cheapest sink there is."""


def _no_emit(
    policy: Policy,
    kind: EventKind,
    key: str,
    *,
    lock: Lock | None = None,
    item: LockItem | None = None,
    duration_ms: float | None = None,
    cached: bool = False,
    error: BaseException | None = None,
) -> None:
    """``emit``'s signature, doing nothing: a call costs what a call to ``emit`` costs, no more."""


@contextlib.contextmanager
def events_stripped() -> Iterator[None]:
    """``Policy.emit`` replaced by a do-nothing function for the block, then put back.

    The protocol looks ``emit`` up on the policy's class at every transition, so the swap reaches
    each call made inside the block and none made after it.
    """
    emit = Policy.emit
    Policy.emit = _no_emit  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Policy.emit = emit  # type: ignore[method-assign]


def sinks(*, calls: int, repeats: int) -> dict[str, Any]:
    """Per path and variant: µs of library code per call (median of repeats' medians)."""
    fake = FakeDynamoDB()
    buffer = io.StringIO()
    hooks = {"no hook": None, "no-op on_event": _noop, "CloudWatchMetrics": CloudWatchMetrics()}
    subjects = {
        name: idemlock_subject(fake, TABLE, unique("ns"), on_event=hook)
        for name, hook in hooks.items()
    }
    subjects[STRIPPED] = subjects["no hook"]  # the very same handler, sampled with emit stripped
    samples: dict[str, dict[str, list[float]]] = {v: {p: [] for p in PATHS} for v in VARIANTS}
    with contextlib.redirect_stdout(buffer):
        for variant in VARIANTS:  # warm-up
            with _as(variant):
                for path in PATHS:
                    sample(subjects[variant], fake, path, 20)
        gc.collect()
        for repeat in range(repeats):
            # The order reverses every other repeat, so that no variant always runs first after
            # a change of path (section 6 alternates its libraries for the same reason).
            order = VARIANTS if repeat % 2 == 0 else VARIANTS[::-1]
            for path in PATHS:
                for variant in order:
                    with _as(variant):  # swapped outside the timed calls
                        medians = sample(subjects[variant], fake, path, calls)
                    samples[variant][path].append(medians["library_us"])
                buffer.seek(0)
                buffer.truncate()
    return {
        "calls_per_repeat": calls,
        "repeats": repeats,
        "paths": {
            path: {variant: summary(samples[variant][path]) for variant in VARIANTS}
            for path in PATHS
        },
        # Paired within each repeat (the two ran back to back): drift between repeats cancels,
        # and a spread straddling 0 says the plumbing is lost in the noise.
        "plumbing_us": {
            path: summary(
                [
                    unset - stripped
                    for unset, stripped in zip(
                        samples["no hook"][path], samples[STRIPPED][path], strict=True
                    )
                ]
            )
            for path in PATHS
        },
    }


def _as(variant: str) -> contextlib.AbstractContextManager[None]:
    """What ``variant`` runs under: emit stripped, or the library as it is."""
    return events_stripped() if variant == STRIPPED else contextlib.nullcontext()


def heartbeats(endpoint_url: str, *, hold_s: float) -> dict[str, Any]:
    """Extensions per minute of a body held ``hold_s`` seconds, for two leases."""
    client = make_client(endpoint_url)
    try:
        store = DynamoDBStore(create_table(client, "heartbeat"), client=client)
        rows: dict[str, Any] = {}
        for lease_s in (1.0, 3.0):
            extended: list[LockEvent] = []

            @idempotent(
                lambda job: job,
                store=store,
                namespace=unique("hb"),
                lease=lease_s,
                heartbeat=True,
                on_event=lambda event: extended.append(event) if event.kind == "extended" else None,
            )
            def hold(job: str) -> None:
                time.sleep(hold_s)

            started = time.perf_counter()
            hold("job")
            held_s = time.perf_counter() - started
            rows[f"{lease_s:g}"] = {
                "lease_s": lease_s,
                "held_s": held_s,
                "extensions": len(extended),
                "per_minute": len(extended) / held_s * 60,
                "expected_per_minute": 180 / lease_s,
            }
    finally:
        client.close()
    return {"hold_s": hold_s, "leases": rows}


def measure(endpoint_url: str, *, calls: int, repeats: int, hold_s: float) -> dict[str, Any]:
    """Both measurements, for the report."""
    results = {"sinks": sinks(calls=calls, repeats=repeats)}
    results["heartbeats"] = heartbeats(endpoint_url, hold_s=hold_s)
    noop = [
        results["sinks"]["paths"][p]["no-op on_event"]["median"]
        / results["sinks"]["paths"][p]["no hook"]["median"]
        for p in PATHS
    ]
    results["sinks"]["noop_ratio_median"] = statistics.median(noop)
    return results
