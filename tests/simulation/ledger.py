"""What the store applied, in order, and the promises of issue 28 checked on it.

The store wrapper notes every write the store really applied (claims, extensions, completes,
releases, frees, step records, an operator's deletes), the bodies note each step they ran or
replayed, and the callers note what each call returned; all in one order (``seq``), as they
happened, whatever the virtual clock said. (Behind the fault-injecting proxy, a write whose
every answer was lost is noted as ``lost <operation>``: it may have landed unseen, and the
checks give it the benefit of the doubt.) :func:`check_ledger` then asserts:

- **A key is claimed only when free**: never over another owner's claim whose lease is live
  and which its owner has not ended (a waiter reads, it never takes a live key).
- **Under ``on_lease_expired="refuse"``, a lapsed claim is never taken over**: the previous
  claim was ended by its owner (complete, release, free) or settled by an operator.
- **A step runs at most once per key**, across failures, takeovers and waits, unless an operator
  said run again (``idemlock release``). Not promised (docs/concepts.md): a step run by an
  invocation whose key was taken over already (a stale owner), or one whose record never landed
  while its key was left to its lease (a crash, the store down): the next run does it again.
- **A replayed step returns what the store recorded** for that step.
- **A call that did not run its body returns the key's stored result** (a duplicate, a waiter, a
  warm cache, a batch's duplicate record): the first complete's, the operator's for a resolved
  key; never before the key completed. **A completed key's result never changes.**
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

REFUSE_MARK = "-refuse"
"""In a stored key, what marks a function with ``on_lease_expired="refuse"`` (its namespace)."""


@dataclass(frozen=True)
class Write:
    """One write the store applied: ``kind`` is claim, extend, complete, release, free, steps,
    or (an operator's) delete / resolve."""

    seq: int
    kind: str
    key: str
    owner: str
    lease_ms: int = 0
    """A claim's or an extension's lease end; a claim's own time is :attr:`at_ms`."""
    at_ms: int = 0
    text: str | None = None
    """A complete's result; for ``steps``, the recorded steps as JSON (name -> text)."""


@dataclass(frozen=True)
class StepRun:
    """One step's function that returned, in the body holding ``owner``'s claim."""

    key: str
    name: str
    body: int
    owner: str
    began: int
    ended: int
    value: Any


@dataclass(frozen=True)
class Returned:
    """A call that returned ``value``; ``own``: the value is its own body's."""

    seq: int
    label: str
    key: str
    value: Any
    own: bool


@dataclass
class Ledger:
    """The writes, step runs, step replays and returns of one run, in one order."""

    writes: list[Write] = field(default_factory=list)
    steps: list[StepRun] = field(default_factory=list)
    replays: list[tuple[str, str, int, Any]] = field(default_factory=list)
    """(key, step name, body number, value) of each step a body replayed."""
    returns: list[Returned] = field(default_factory=list)
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self) -> int:
        """The next number of the one order."""
        with self._lock:
            self._seq += 1
            return self._seq

    def wrote(self, kind: str, key: str, owner: str, **details: Any) -> None:
        """The store applied a write (called under the store wrapper's lock, as it lands)."""
        write = Write(self.tick(), kind, key, owner, **details)
        with self._lock:
            self.writes.append(write)

    def step_ran(self, run: StepRun) -> None:
        """A step's function returned."""
        with self._lock:
            self.steps.append(run)

    def step_replayed(self, key: str, name: str, body: int, value: Any) -> None:
        """A body got a step's recorded value without running it."""
        with self._lock:
            self.replays.append((key, name, body, value))

    def returned(self, label: str, key: str, value: Any, *, own: bool) -> None:
        """A call returned."""
        returned = Returned(self.tick(), label, key, plain(value), own)
        with self._lock:
            self.returns.append(returned)


def plain(value: Any) -> Any:
    """A value as JSON would carry it (tuples as lists), to compare replays with originals."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def check_ledger(ledger: Ledger) -> list[str]:
    """Every broken promise of issue 28 in ``ledger``."""
    return [
        *_claims(ledger),
        *_steps_once(ledger),
        *_replayed_steps(ledger),
        *_returns(ledger),
        *_results_stay(ledger),
    ]


_UNSEEN_ENDS = tuple(
    f"lost {operation}" for operation in ("claim", "complete", "release", "free", "delete")
)
"""Writes whose every answer was lost (behind the proxy): the key's holder is not known then."""

_COMPLETES = ("complete", "resolve", "lost complete")
"""What may have stored a key's result (a lost complete may have landed)."""


def _claims(ledger: Ledger) -> list[str]:
    """A key is claimed only when free; under refuse, never over a lapsed claim."""
    found = []
    holder: dict[str, Write] = {}
    """Per key, the claim (or extension) of its holder, while nobody ended it."""
    for write in ledger.writes:
        held = holder.get(write.key)
        if write.kind == "claim":
            if held is not None and held.owner != write.owner:
                if write.at_ms <= held.lease_ms:
                    found.append(f"claimed while {held.owner}'s lease was live: {write} | {held}")
                elif REFUSE_MARK in write.key:
                    found.append(
                        f"under refuse, took over a lapsed claim nobody settled: {write} | {held}"
                    )
            holder[write.key] = write
        elif write.kind == "extend" and held is not None and held.owner == write.owner:
            holder[write.key] = write
        elif write.kind in ("complete", "resolve", "delete", *_UNSEEN_ENDS) or (
            write.kind in ("release", "free") and held is not None and held.owner == write.owner
        ):
            holder.pop(write.key, None)
    return found


def _steps_once(ledger: Ledger) -> list[str]:
    """A step runs at most once per key, unless an operator said run again."""
    found = []
    by_step: dict[tuple[str, str], list[StepRun]] = defaultdict(list)
    for run in ledger.steps:
        by_step[run.key, run.name].append(run)
    for runs in by_step.values():
        runs.sort(key=lambda run: run.began)
        for later_index, later in enumerate(runs):
            for earlier in runs[:later_index]:
                if not _may_run_again(ledger, earlier, later):
                    found.append(f"step ran twice: {earlier} | {later}")
    return found


def _may_run_again(ledger: Ledger, earlier: StepRun, later: StepRun) -> bool:
    """Whether ``later`` may run ``earlier``'s step again (see the module's docstring)."""
    key = earlier.key
    writes = [w for w in ledger.writes if w.key == key]
    claimed = next((w.seq for w in writes if w.kind == "claim" and w.owner == earlier.owner), 0)
    if any(w.kind == "delete" and claimed < w.seq < later.began for w in writes):
        return True  # the operator said run again (maybe while the earlier run went on)
    if _stale(writes, earlier) or _stale(writes, later):
        return True  # a lease-expiry takeover: both ran at once, the stale one's record refused
    recorded = any(
        w.kind == "steps"
        and w.owner == earlier.owner
        and w.text is not None
        and earlier.name in json.loads(w.text)
        for w in writes
    )
    ended_by_owner = any(
        w.kind in ("release", "free") and w.owner == earlier.owner and w.seq > earlier.ended
        for w in writes
    )
    return not recorded and not ended_by_owner  # lost with its worker: left to the lease


def _stale(writes: list[Write], run: StepRun) -> bool:
    """Whether another owner had claimed the key when ``run``'s function began."""
    claims = [w for w in writes if w.kind == "claim" and w.seq < run.began]
    return bool(claims) and claims[-1].owner != run.owner


def _replayed_steps(ledger: Ledger) -> list[str]:
    """A replayed step returns what the store recorded for it."""
    recorded: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for write in ledger.writes:
        if write.kind in ("steps", "lost record_steps") and write.text is not None:
            for name, text in json.loads(write.text).items():
                recorded[write.key, name].append(plain(json.loads(text)))
    return [
        f"step {name!r} of {key} replayed {value!r} in body#{body}, never recorded "
        f"(recorded: {recorded[key, name]})"
        for key, name, body, value in ledger.replays
        if plain(value) not in recorded[key, name]
    ]


def _returns(ledger: Ledger) -> list[str]:
    """A call that did not run its body returns the key's first stored result."""
    found = []
    for returned in ledger.returns:
        if returned.own:
            continue
        first = _first_complete(ledger, returned.key, before=returned.seq)
        if first is None:
            found.append(f"returned without running before its key completed: {returned}")
        elif returned.value != _stored(first):
            found.append(f"returned {returned.value!r}, not the stored one: {returned} | {first}")
    return found


def _results_stay(ledger: Ledger) -> list[str]:
    """A completed key's stored result never changes (a late complete, a resolve)."""
    found = []
    for write in ledger.writes:
        if write.kind in ("complete", "resolve"):
            first = _first_complete(ledger, write.key, before=write.seq + 1)
            if first is not None and first is not write and _stored(first) != _stored(write):
                found.append(f"the stored result of {write.key} changed: {first} | {write}")
    return found


def _first_complete(ledger: Ledger, key: str, *, before: int) -> Write | None:
    return next(
        (w for w in ledger.writes if w.key == key and w.kind in _COMPLETES and w.seq < before),
        None,
    )


def _stored(write: Write) -> Any:
    return None if write.text is None else plain(json.loads(write.text))
