"""The history checker finds each broken invariant, and passes a history that keeps them.

A checker that never fails proves nothing: each test writes a small history by hand, as the
simulation would, with exactly one invariant broken (or none).
"""

from __future__ import annotations

from tests.simulation.history import INFINITE, History, Report, check


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
