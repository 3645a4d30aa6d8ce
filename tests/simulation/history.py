"""What happened in one simulated run, and the checker of idemlock's promise on it.

The history is written by the bodies (when each started and ended, holding which claim), by the
store wrapper (what the store really applied: claims, extends, completes) and by the batch
workers (what each record was reported as). :func:`check` reads it after the run and returns
every broken invariant, each naming the bodies or calls involved, so a failure shows its seed
and the few lines of history that matter.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from tests.simulation.ledger import Ledger, check_ledger

INFINITE = math.inf


@dataclass
class Body:
    """One run of a body: which claim it held, from when to when (virtual seconds)."""

    number: int
    actor: str
    key: str
    owner: str
    fence: int
    start: float
    promised_until: float
    """Until when the body is owed the key: its start plus its whole lease, moved on by its own
    successful ``extend()`` calls; never with a heartbeat (owed while it runs)."""
    end: float = INFINITE
    outcome: str = "running"

    def owed_at(self, moment: float) -> bool:
        """Whether nobody else may run this key's body at ``moment``."""
        return self.start <= moment < self.end and moment < self.promised_until

    def __str__(self) -> str:
        end = "running" if self.end == INFINITE else f"{self.end:.3f}"
        promised = "while it runs" if self.promised_until == INFINITE else self.promised_until
        return (
            f"body#{self.number} {self.actor} key={self.key} fence={self.fence} "
            f"start={self.start:.3f} end={end} owed until {promised} ({self.outcome})"
        )


@dataclass
class Report:
    """What a batch worker was told about one record, and whether its body ran in that batch."""

    invocation: str
    index: int
    key: str | None
    status: str
    ran: bool


@dataclass
class History:
    """Everything the checker needs, appended to from any thread."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    bodies: list[Body] = field(default_factory=list)
    applied: dict[str, list[tuple[int, float, int]]] = field(default_factory=dict)
    """Per ordered shard: (sequence number, time, body number) of each change applied."""
    completed: dict[str, float] = field(default_factory=dict)
    """Per key: when the store first applied a complete."""
    reports: list[Report] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """Broken invariants seen as they happened (a lease moved backwards in the store)."""
    logged: list[str] = field(default_factory=list)
    """Every WARNING (or worse) of the ``idemlock`` logger, with the key it names if any."""
    ledger: Ledger = field(default_factory=Ledger)
    """What the store applied, the steps run and replayed, what calls returned (issue 28)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, moment: float, text: str) -> None:
        """One line of the history, for the report of a failure."""
        with self._lock:
            self.lines.append((moment, text))

    def start_body(
        self, actor: str, key: str, *, owner: str, fence: int, moment: float, owed_s: float
    ) -> Body:
        """A body starts holding ``owner``'s claim on ``key``, owed ``owed_s`` seconds."""
        with self._lock:
            body = Body(len(self.bodies), actor, key, owner, fence, moment, moment + owed_s)
            self.bodies.append(body)
        self.note(moment, f"start {body}")
        return body

    def end_body(self, body: Body, moment: float, outcome: str) -> None:
        """The body returned (``outcome``) or raised at ``moment``."""
        body.end, body.outcome = moment, outcome
        self.note(moment, f"end body#{body.number} {outcome}")

    def apply(self, shard: str, sequence: int, moment: float, body: Body) -> None:
        """An ordered body applied its change downstream."""
        with self._lock:
            self.applied.setdefault(shard, []).append((sequence, moment, body.number))
        self.note(moment, f"apply {shard} seq={sequence} by body#{body.number}")

    def complete(self, key: str, moment: float) -> None:
        """The store applied a complete of ``key``."""
        with self._lock:
            self.completed.setdefault(key, moment)

    def violation(self, moment: float, text: str) -> None:
        """An invariant broken as it happened (seen by the store wrapper)."""
        with self._lock:
            self.violations.append(f"t={moment:.3f} {text}")
        self.note(moment, f"VIOLATION {text}")

    def report(self, report: Report) -> None:
        """A batch worker's verdict on one record."""
        with self._lock:
            self.reports.append(report)


def check(history: History) -> list[str]:
    """Every broken invariant of ``history``: an empty list when the promise held."""
    return [
        *history.violations,
        *_overlaps(history),
        *_runs_after_completion(history),
        *_ordered_changes(history),
        *_reports(history),
        *_failures_logged(history),
        *check_ledger(history.ledger),
    ]


def _overlaps(history: History) -> list[str]:
    """No two bodies of a key at once while the first is still owed the key."""
    by_key: dict[str, list[Body]] = defaultdict(list)
    for body in history.bodies:
        by_key[body.key].append(body)
    found = []
    for bodies in by_key.values():
        for first in bodies:
            for later in bodies:
                if later is not first and later.start >= first.start and first.owed_at(later.start):
                    if later.start == first.start and later.number < first.number:
                        continue  # a tie is reported once, by body number
                    found.append(f"two bodies at once, the first still owed: {first} | {later}")
    return found


def _runs_after_completion(history: History) -> list[str]:
    """A key the store completed never runs again (retention outlasts every run)."""
    return [
        f"ran after its key completed at {history.completed[body.key]:.3f}: {body}"
        for body in history.bodies
        if body.key in history.completed and body.start > history.completed[body.key]
    ]


def _ordered_changes(history: History) -> list[str]:
    """In an ordered source, no change is applied after a newer change of its shard."""
    found = []
    for shard, changes in history.applied.items():
        newest = -1
        for sequence, moment, number in changes:
            if sequence < newest:
                found.append(
                    f"shard {shard}: seq {sequence} applied at {moment:.3f} by body#{number} "
                    f"after seq {newest}; applied in order: {[c[0] for c in changes]}"
                )
            newest = max(newest, sequence)
    return found


def _reports(history: History) -> list[str]:
    """A record reported done ran in that batch; one reported not run or duplicate did not."""
    found = []
    for report in history.reports:
        if report.status == "completed" and not report.ran:
            found.append(f"reported completed but did not run: {report}")
        if report.status in ("not_run", "duplicate") and report.ran:
            found.append(f"reported {report.status} but its body ran: {report}")
    return found


def _failures_logged(history: History) -> list[str]:
    """Every record a batch reported failed was logged with its key (the response drops why)."""
    return [
        f"reported failed but never logged: {report}"
        for report in history.reports
        if report.status == "failed"
        and report.key is not None
        and not any(report.key in line for line in history.logged)
    ]
