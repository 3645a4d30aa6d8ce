"""The history checker finds each broken invariant, and passes a history that keeps them.

A checker that never fails proves nothing: each test writes a small history by hand, as the
simulation would, with exactly one invariant broken (or none).
"""

from __future__ import annotations

import json

from tests.simulation.history import INFINITE, History, Report, check
from tests.simulation.ledger import REFUSE_MARK, Ledger, StepRun, check_ledger


def two_bodies(*, second_start: float, owed_s: float) -> History:
    """Body 0 of key ``k`` runs from 0 to 5, owed ``owed_s``; body 1 starts at ``second_start``."""
    history = History()
    first = history.start_body("call0", "k", owner="a", fence=1, moment=0.0, owed_s=owed_s)
    second = history.start_body("call1", "k", owner="b", fence=2, moment=second_start, owed_s=10.0)
    history.end_body(first, 5.0, "returned")
    history.end_body(second, second_start + 1, "returned")
    return history


def test_a_history_that_keeps_the_promise_passes() -> None:
    """One body after another, an ordered shard applied in order, honest reports: no finding."""
    history = two_bodies(second_start=6.0, owed_s=10.0)
    history.apply("shard", 1, 1.0, history.bodies[0])
    history.apply("shard", 1, 2.0, history.bodies[0])
    history.apply("shard", 2, 3.0, history.bodies[1])
    history.report(Report("batch", 0, "k", "completed", ran=True))
    history.report(Report("batch", 1, "k2", "not_run", ran=False))
    assert check(history) == []


def test_a_body_overlapping_one_still_owed_the_key_is_found() -> None:
    """The second body starts at 3 s while the first, owed 4 s, runs until 5 s."""
    assert "two bodies at once" in " ".join(check(two_bodies(second_start=3.0, owed_s=4.0)))


def test_a_takeover_after_the_lease_ran_out_is_allowed() -> None:
    """Owed 2 s without a heartbeat, still running at 3 s: the takeover is the lease's purpose."""
    assert check(two_bodies(second_start=3.0, owed_s=2.0)) == []


def test_a_body_with_a_heartbeat_is_owed_the_key_while_it_runs() -> None:
    """With a heartbeat, no takeover while the body runs, however late."""
    assert check(two_bodies(second_start=4.9, owed_s=INFINITE)) != []


def test_a_run_after_the_key_completed_is_found() -> None:
    """The store completed ``k`` at 5.5 s; a body of ``k`` starts at 6 s."""
    history = two_bodies(second_start=6.0, owed_s=10.0)
    history.complete("k", 5.5)
    assert "ran after its key completed" in " ".join(check(history))


def test_an_older_change_applied_after_a_newer_one_is_found() -> None:
    """``v1, v2, v1`` in one shard."""
    history = two_bodies(second_start=6.0, owed_s=10.0)
    for sequence, moment in ((1, 1.0), (2, 2.0), (1, 3.0)):
        history.apply("shard", sequence, moment, history.bodies[0])
    assert "after seq 2" in " ".join(check(history))


def test_dishonest_batch_reports_are_found() -> None:
    """Reported not run (or duplicate) although it ran; reported completed although it did not."""
    history = History()
    history.report(Report("batch", 0, "k0", "not_run", ran=True))
    history.report(Report("batch", 1, "k1", "duplicate", ran=True))
    history.report(Report("batch", 2, "k2", "completed", ran=False))
    assert len(check(history)) == 3


def test_a_failed_record_that_was_not_logged_is_found() -> None:
    """A record reported failed needs a warning naming its key; another key's does not count."""
    history = History()
    history.report(Report("batch", 0, "k0", "failed", ran=False))
    history.logged.append("sqs record m-1 (key 'k1') failed: InProgressError()")
    assert "never logged" in " ".join(check(history))
    history.logged.append("sqs record m-0 (key 'k0') failed: InProgressError()")
    assert check(history) == []


def test_violations_seen_as_they_happened_are_reported() -> None:
    """The store wrapper's findings (a lease moved backwards) are part of the verdict."""
    history = History()
    history.violation(1.0, "the lease of k moved backwards")
    assert check(history) == ["t=1.000 the lease of k moved backwards"]


# -- issue 28: waiters, steps, refuse and the operator ------------------------------------------

KEY = "run-call0#k"
REFUSED = f"run-call0{REFUSE_MARK}#k"


def step_run(ledger: Ledger, owner: str, body: int, name: str = "charge") -> StepRun:
    """``owner``'s body runs step ``name`` now."""
    began = ledger.tick()
    run = StepRun(KEY, name, body, owner, began, ledger.tick(), {"step": name, "body": body})
    ledger.step_ran(run)
    return run


def findings(ledger: Ledger) -> str:
    return " ".join(check_ledger(ledger))


def test_a_step_run_again_after_its_owner_freed_the_key_is_found() -> None:
    """A's charge ran, its record failed, A released the key: B charges again."""
    ledger = Ledger()
    ledger.wrote("claim", KEY, "a", lease_ms=10, at_ms=0)
    step_run(ledger, "a", 0)
    ledger.wrote("release", KEY, "a")
    ledger.wrote("claim", KEY, "b", lease_ms=20, at_ms=5)
    step_run(ledger, "b", 1)
    assert "step ran twice" in findings(ledger)


def test_a_step_run_again_although_recorded_is_found() -> None:
    """A recorded the charge and freed the key keeping it; B ran it instead of replaying."""
    ledger = Ledger()
    ledger.wrote("claim", KEY, "a", lease_ms=10, at_ms=0)
    step_run(ledger, "a", 0)
    ledger.wrote("steps", KEY, "a", text=json.dumps({"charge": '{"body":0}'}))
    ledger.wrote("free", KEY, "a")
    ledger.wrote("claim", KEY, "b", lease_ms=20, at_ms=5)
    step_run(ledger, "b", 1)
    assert "step ran twice" in findings(ledger)


def test_a_step_run_again_when_the_promise_allows_it_passes() -> None:
    """Not promised: after the operator's release; by a stale owner beside the one that took
    over; after a crash that left the key to its lease (the record never landed)."""
    released = Ledger()
    released.wrote("claim", KEY, "a", lease_ms=10, at_ms=0)
    step_run(released, "a", 0)
    released.wrote("steps", KEY, "a", text=json.dumps({"charge": '{"body":0}'}))
    released.wrote("delete", KEY, "a")
    released.wrote("claim", KEY, "b", lease_ms=20, at_ms=5)
    step_run(released, "b", 1)
    stale = Ledger()
    stale.wrote("claim", KEY, "a", lease_ms=10, at_ms=0)
    stale.wrote("claim", KEY, "b", lease_ms=30, at_ms=11)  # a's lease ran out: taken over
    step_run(stale, "b", 1)
    stale.wrote("steps", KEY, "b", text=json.dumps({"charge": '{"body":1}'}))
    step_run(stale, "a", 0)  # a wakes up: its step runs, its record is refused
    crashed = Ledger()
    crashed.wrote("claim", KEY, "a", lease_ms=10, at_ms=0)
    step_run(crashed, "a", 0)
    crashed.wrote("claim", KEY, "b", lease_ms=30, at_ms=11)
    step_run(crashed, "b", 1)
    assert check_ledger(released) == check_ledger(stale) == check_ledger(crashed) == []


def test_a_replayed_step_that_was_never_recorded_is_found() -> None:
    """The body got a value for the charge that no record holds."""
    ledger = Ledger()
    ledger.wrote("steps", KEY, "a", text=json.dumps({"charge": '{"body":0}'}))
    ledger.step_replayed(KEY, "charge", 1, {"body": 0})
    assert check_ledger(ledger) == []
    ledger.step_replayed(KEY, "charge", 2, {"body": 7})
    assert "never recorded" in findings(ledger)


def test_a_waiter_returning_anything_but_the_stored_result_is_found() -> None:
    """A duplicate (a waiter) that did not run returns the first complete's result only, and
    only once the key completed."""
    ledger = Ledger()
    ledger.returned("dup0.0", KEY, {"body": 0}, own=False)
    assert "before its key completed" in findings(ledger)
    ledger = Ledger()
    ledger.wrote("complete", KEY, "a", text='{"body":0}')
    ledger.returned("dup0.0", KEY, {"body": 0}, own=False)
    ledger.returned("call0.0", KEY, {"body": 1}, own=True)  # its own body's: not a replay
    assert check_ledger(ledger) == []
    ledger.returned("dup1.0", KEY, {"body": 1}, own=False)
    assert "not the stored one" in findings(ledger)


def test_a_resolved_key_replays_the_operators_result() -> None:
    """Resolved with a result: duplicates get it; a late complete of the lapsed owner that
    changes it is found, and so is the duplicate that replays the late one."""
    ledger = Ledger()
    ledger.wrote("resolve", REFUSED, "a", text='{"resolved":1}')
    ledger.returned("dup0.0", REFUSED, {"resolved": 1}, own=False)
    assert check_ledger(ledger) == []
    ledger.wrote("complete", REFUSED, "a", text='{"body":0}')
    ledger.returned("dup1.0", REFUSED, {"body": 0}, own=False)
    found = findings(ledger)
    assert "stored result of" in found
    assert "changed" in found
    assert "not the stored one" in found


def test_under_refuse_a_lapsed_claim_taken_over_without_a_decision_is_found() -> None:
    """A's lease ran out and nobody settled it: B's claim breaks refuse; after the operator's
    release (or A's own release) it does not."""
    ledger = Ledger()
    ledger.wrote("claim", REFUSED, "a", lease_ms=10, at_ms=0)
    ledger.wrote("claim", REFUSED, "b", lease_ms=30, at_ms=11)
    assert "under refuse" in findings(ledger)
    ledger = Ledger()
    ledger.wrote("claim", REFUSED, "a", lease_ms=10, at_ms=0)
    ledger.wrote("delete", REFUSED, "a")
    ledger.wrote("claim", REFUSED, "b", lease_ms=30, at_ms=11)
    ledger.wrote("release", REFUSED, "b")
    ledger.wrote("claim", REFUSED, "c", lease_ms=40, at_ms=12)
    assert check_ledger(ledger) == []


def test_a_claim_within_a_live_lease_is_found() -> None:
    """B claims at 9 while A's lease, extended to 20, is live; at 21 it may take over."""
    ledger = Ledger()
    ledger.wrote("claim", KEY, "a", lease_ms=10, at_ms=0)
    ledger.wrote("extend", KEY, "a", lease_ms=20)
    ledger.wrote("claim", KEY, "b", lease_ms=30, at_ms=19)
    assert "lease was live" in findings(ledger)
    ledger = Ledger()
    ledger.wrote("claim", KEY, "a", lease_ms=10, at_ms=0)
    ledger.wrote("extend", KEY, "a", lease_ms=20)
    ledger.wrote("claim", KEY, "b", lease_ms=30, at_ms=21)
    assert check_ledger(ledger) == []
