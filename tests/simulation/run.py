"""One simulated run: a seed's workload against a store, then the checker."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from idemlock import LockStatus, LockStore
from tests.simulation.history import History, check
from tests.simulation.workload import EXTEND_MAX_S, PROFILES, schedule
from tests.simulation.world import FaultPlan, ProxyFaults, SimStore, World

SEEDS_ENV = "IDEMLOCK_SIM_SEEDS"
"""How many seeds each sweep runs (the CI default is small: the whole simulation under 2 min)."""

HISTORY_LINES = 60
"""The most lines of history a failure prints (those naming the keys involved)."""


@dataclass
class Run:
    """What one seed did: its history and every invariant it broke."""

    seed: int
    profile: str
    history: History
    violations: list[str]

    def explain(self) -> str:
        """The seed, the broken invariants, and the history of the keys involved."""
        text = "\n".join(self.violations)
        keys = {body.key for body in self.history.bodies if body.key in text}
        names = {f"body#{b.number} " for b in self.history.bodies if b.key in keys}
        lines = [
            f"{moment:8.3f}  {line}"
            for moment, line in self.history.lines
            if not keys
            or any(key in line for key in keys)
            or any(name in f"{line} " for name in names)
            or line.startswith("VIOLATION")
        ]
        shown = lines[:HISTORY_LINES] + (
            [f"... {len(lines) - HISTORY_LINES} more"] if len(lines) > HISTORY_LINES else []
        )
        return "\n".join(
            [
                f"simulation seed {self.seed} (profile {self.profile}) broke the promise:",
                *(f"  - {violation}" for violation in self.violations),
                f"history of {', '.join(sorted(keys)) or 'the run'} (virtual seconds):",
                *shown,
                f"replay: IDEMLOCK_SIM_SEED={self.seed} python -m pytest tests/simulation"
                f" -k {self.profile}",
            ]
        )


def seeds(default: int) -> range:
    """The seeds a sweep runs: ``IDEMLOCK_SIM_SEEDS`` of them, never fewer than ``default``.

    Never fewer: a sweep that finds a known bug within its CI seeds must go on finding it.
    ``IDEMLOCK_SIM_SEED=N`` runs that one seed alone (replaying a failure).
    """
    one = os.environ.get("IDEMLOCK_SIM_SEED")
    if one:
        return range(int(one), int(one) + 1)
    return range(max(default, int(os.environ.get(SEEDS_ENV) or 0)))


def simulate(
    seed: int, profile_name: str, inner: LockStore, proxy: ProxyFaults | None = None
) -> Run:
    """Run seed ``seed`` of profile ``profile_name`` against ``inner`` and check its history."""
    profile = PROFILES[profile_name]
    history = History()
    world = World(history)
    nonce = uuid.uuid4().hex[:6]  # a shared table keeps runs apart
    faults = FaultPlan(seed, profile.faults, profile.ordered_faults, nonce=nonce)
    store = SimStore(inner, world, faults, proxy)
    run = f"s{seed}-{nonce}"
    schedule(seed, profile, world, store, run)
    with world.virtual_sleeps(), _logging_into(history):
        world.run()
        longest = max((*profile.leases, *([EXTEND_MAX_S] if profile.extends else [])))
        settle_leases(world, store, longest_lease=longest)
    return Run(seed, profile_name, history, check(history))


def settle_leases(world: World, store: SimStore, *, longest_lease: float) -> None:
    """Every key ends completed or free within one lease (or extension) of the last call."""
    world.clock.advance_to(world.clock() + longest_lease + 1)
    now_ms = int(world.clock() * 1000)
    keys = {body.key for body in world.history.bodies}
    for key in sorted(keys):
        item = store.settled(key)
        if (
            item is not None
            and item.status is LockStatus.IN_PROGRESS
            and (item.lease_expires_at_ms or 0) > now_ms
        ):
            world.history.violation(world.now(), f"{key} still held a lease after the run: {item}")


class _Warnings(logging.Handler):
    """Keeps the ``idemlock`` logger's warnings in the history, with the key each names."""

    def __init__(self, history: History) -> None:
        super().__init__(logging.WARNING)
        self._history = history

    def emit(self, record: logging.LogRecord) -> None:
        key = getattr(record, "idemlock_key", None)
        self._history.logged.append(f"{record.getMessage()} [key {key}]")


@contextmanager
def _logging_into(history: History) -> Iterator[None]:
    """The ``idemlock`` logger's warnings go to ``history`` only, for this run."""
    logger = logging.getLogger("idemlock")
    handler = _Warnings(history)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.WARNING)
    logger.propagate = False  # thousands of injected failures: not the test report's business
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
