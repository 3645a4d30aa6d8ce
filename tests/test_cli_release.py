"""``idemlock release``: a key is freed when asked, never from a live owner unless forced."""

from __future__ import annotations

import subprocess
import sys

import pytest

from idemlock import DynamoDBStore, current_lock, idempotent
from idemlock.errors import LockLostError
from idemlock.item import LockStatus
from idemlock.testing import ManualClock
from tests.cli_helpers import (
    POWERTOOLS_KEY,
    Run,
    as_json,
    command_env,
    hold,
    put_powertools_item,
)


def test_release_frees_a_stale_key_so_its_event_runs_again(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """release --yes deletes a crashed invocation's claim; the next delivery runs the body."""
    clock = ManualClock()
    hold(store, "jobs#stale", clock, lease=1, age=10)

    done = idemlock("release", "jobs#stale", "--yes")

    assert done.returncode == 0, done.stderr
    assert store.get("jobs#stale") is None
    runs: list[str] = []
    idempotent(lambda key: key, store=store, namespace="jobs")(runs.append)("stale")
    assert runs == ["stale"]


def test_release_asks_first_and_refuses_without_a_yes(store: DynamoDBStore, idemlock: Run) -> None:
    """Without --yes, release asks on stderr; anything but y refuses (exit 1), keeping the item."""
    hold(store, "jobs#stale", ManualClock(), lease=1, age=10)

    for answer in ("n\n", ""):
        refused = idemlock("release", "jobs#stale", stdin=answer)
        assert refused.returncode == 1
        assert "[y/N]" in refused.stderr
        assert store.get("jobs#stale") is not None
    assert idemlock("release", "jobs#stale", stdin="y\n").returncode == 0
    assert store.get("jobs#stale") is None


def test_release_refuses_a_live_owner_without_force(store: DynamoDBStore, idemlock: Run) -> None:
    """A claim within its lease is not released unless --force: exit 1 saying so."""
    hold(store, "jobs#live", ManualClock(), lease=600, age=0)

    refused = idemlock("release", "jobs#live", "--yes")

    assert refused.returncode == 1
    assert "live invocation" in refused.stderr
    assert store.get("jobs#live") is not None


def test_release_racing_a_new_owner_is_refused(store: DynamoDBStore, idemlock: Run) -> None:
    """The operator reads a stale claim; before they confirm, a redelivery takes the key over:
    the release fails its condition and the new owner's item stays."""
    clock = ManualClock()
    hold(store, "jobs#k", clock, lease=1, age=10)
    process = subprocess.Popen(
        [sys.executable, "-m", "idemlock", "release", "jobs#k"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(
            IDEMLOCK_TABLE=store.table_name,
            AWS_ENDPOINT_URL_DYNAMODB=store.client.meta.endpoint_url,
        ),
    )
    assert process.stderr is not None
    prompt = ""
    while "[y/N]" not in prompt:  # the item has been read; the operator is thinking
        prompt += process.stderr.read(1)
    new_owner: list[str] = []

    @idempotent(lambda key: key, store=store, namespace="jobs", lease=600)
    def redelivery(key: str) -> None:
        lock = current_lock()
        assert lock is not None
        new_owner.append(lock.owner)
        _, err = process.communicate("y\n", timeout=60)
        assert process.returncode == 1
        assert "changed since it was read" in prompt + err

    redelivery("k")
    record = store.get("jobs#k")
    assert record is not None
    assert (record.status, record.owner) == (LockStatus.COMPLETED, new_owner[0])


def test_forced_release_of_a_live_owner_makes_its_complete_fail(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """release --force deletes even a live claim; that owner's complete then raises
    LockLostError and writes nothing."""

    @idempotent(lambda key: key, store=store, namespace="jobs", lease=600)
    def body(key: str) -> str:
        assert idemlock("release", f"jobs#{key}", "--force", "--yes").returncode == 0
        return "done"

    with pytest.raises(LockLostError):
        body("k")
    assert store.get("jobs#k") is None


def test_release_deletes_a_foreign_item_only_with_force(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """release of an item idemlock did not write: refused without --force (naming why), and
    with --force --yes deleted."""
    put_powertools_item(store)

    refused = idemlock("release", POWERTOOLS_KEY, "--yes")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "not an idemlock record" in refused.stderr
    assert "--force" in refused.stderr
    assert store.get_item(POWERTOOLS_KEY) is not None

    forced = idemlock("release", POWERTOOLS_KEY, "--force", "--yes", "--output", "json")
    assert as_json(forced) == {"key": POWERTOOLS_KEY, "released": True, "was": "INPROGRESS"}
    assert store.get_item(POWERTOOLS_KEY) is None


def test_forcing_a_live_claim_says_it_is_live_when_asking(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """`release KEY --force` on a claim within its lease: the question says the claim is live
    and what that does to its owner; a no keeps it."""
    hold(store, "jobs#live", ManualClock(), lease=600, age=0)

    refused = idemlock("release", "jobs#live", "--force", stdin="n\n")

    assert refused.returncode == 1
    question = refused.stderr.splitlines()[0]
    assert "It is LIVE: an invocation holds it for " in question
    assert "LockLostError" in question
    assert "[y/N]" in question
    assert store.get("jobs#live") is not None


def test_a_stale_claim_is_not_called_live(store: DynamoDBStore, idemlock: Run) -> None:
    """The question for a claim past its lease says stale, never live."""
    hold(store, "jobs#stale", ManualClock(), lease=1, age=10)

    refused = idemlock("release", "jobs#stale", stdin="n\n")

    assert refused.returncode == 1
    assert "(IN_PROGRESS (stale)" in refused.stderr
    assert "LIVE" not in refused.stderr
