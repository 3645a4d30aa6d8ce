"""A model check of the store protocol: random interleavings on every store against a reference.

A hypothesis state machine drives ``claim`` / ``complete`` / ``release`` / operator ``delete`` /
``get`` by four owners on two keys, with a clock it moves by hand (small steps, onto the last
held and the first free millisecond of a lease or a retention), and compares every answer with
:class:`Model`, the protocol restated in a few lines. After every step the store and the model
agree on every key, and at most one owner holds each key.

The longer soak: IDEMLOCK_SOAK=20 python -m pytest tests/test_model.py
(``IDEMLOCK_SOAK`` multiplies every example count). With ``CI`` set the search is seeded
(``derandomize=True``), so a CI run is reproducible, and no example database is written;
locally hypothesis keeps failing examples in ``.hypothesis/`` (git-ignored) and replays them first.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from idemlock.item import LockItem, LockStatus
from idemlock.store import Claim, ClaimResult, LockStore
from idemlock.testing import MemoryStore
from tests.aws import fresh_table
from tests.servers import in_ci

CI = in_ci()
SOAK = int(os.environ.get("IDEMLOCK_SOAK", "1"))
STEPS = 40

OWNERS = ("ann", "bob", "cy", "dee")
KEYS = ("k1", "k2")
START_MS = 1_800_000_000_000
LEASES_MS = (1000, 2500)
# Within a lease, onto its last millisecond (1000), just past it (1001), and across retentions.
ADVANCES_MS = (1, 250, 999, 1000, 1001, 2500, 5000)
# Retention in seconds from now: 0 is over at once; None keeps the completed key forever.
RETENTIONS_S = (0, 1, 3, None)
RESULTS = (None, '"done"', '{"n":1}', '"ünï"')
FINGERPRINTS = (None, "fp-a", "fp-b")

# A soak runs SOAK times the examples: give it as much more time than the suite's 300 s.
pytestmark = pytest.mark.timeout(300 * SOAK)

owners = st.sampled_from(OWNERS)
keys = st.sampled_from(KEYS)
# For complete and release: None is the owner the store last granted the key to (the common
# case, so completed keys and their retention get exercised); otherwise any owner, stale or not.
actors = st.none() | owners


class Model:
    """The protocol in a few lines: key → record; no record means the key is free."""

    def __init__(self) -> None:
        self.records: dict[str, LockItem] = {}

    @staticmethod
    def free(record: LockItem | None, now_ms: int) -> bool:
        """Whether a claim at ``now_ms`` may take the key (restates ``LockItem.is_free_at``)."""
        if record is None:
            return True  # No item: nobody holds the key.
        if record.status is LockStatus.IN_PROGRESS:
            # The owner keeps the key through the last millisecond of its lease; after that it
            # may have crashed, so anyone may take the key over.
            assert record.lease_expires_at_ms is not None
            return record.lease_expires_at_ms < now_ms
        # A completed key replays its result until its retention is over; None: forever.
        return record.expires_at_s is not None and record.expires_at_s * 1000 <= now_ms

    def claim(self, claim: Claim) -> ClaimResult:
        old = self.records.get(claim.key)
        if not self.free(old, claim.now_ms):
            # Refused: the caller learns who holds the key, to wait or to replay the result.
            return ClaimResult(acquired=False, item=old)
        new = LockItem(
            key=claim.key,
            status=LockStatus.IN_PROGRESS,
            owner=claim.owner,
            # Continue from the item's fence (takeover, retention over); with no item, start
            # above any fence a deleted item had: the caller's increasing time in µs.
            fence=(claim.fence_base if old is None else old.fence) + 1,
            claimed_at_ms=claim.now_ms,
            lease_expires_at_ms=claim.lease_expires_at_ms,
            expires_at_s=claim.expires_at_s,
            # Attempts count the claims over the item's life; a deleted item starts again.
            attempts=1 if old is None else old.attempts + 1,
            # A new attempt carries its own fingerprint and no result or completion time.
            fingerprint=claim.fingerprint,
        )
        self.records[claim.key] = new
        # What the claim wrote over: a live invocation's expired claim (a takeover), a
        # completion past its retention, or nothing.
        return ClaimResult(acquired=True, item=new, replaced=None if old is None else old.status)

    def complete(
        self, key: str, owner: str, now_ms: int, result: str | None, expires_at_s: int | None
    ) -> bool:
        old = self.records.get(key)
        # Only the owner token counts, not the lease or the status: a retried complete succeeds
        # again, and an owner past its lease may finish until someone takes the key over.
        if old is None or old.owner != owner:
            return False
        self.records[key] = old._replace(
            status=LockStatus.COMPLETED,
            lease_expires_at_ms=None,  # Nothing is running any more.
            completed_at_ms=now_ms,
            expires_at_s=expires_at_s,  # The retention replaces the in-progress expiry.
            result=result,
        )
        return True

    def release(self, key: str, owner: str) -> bool:
        old = self.records.get(key)
        # Another owner's item stays; an absent one counts as released (a retried release).
        if old is not None and old.owner != owner:
            return False
        self.records.pop(key, None)
        return True

    def delete(self, key: str, expected: LockItem | None) -> bool:
        old = self.records.get(key)
        if old is None:
            return False  # Nothing to delete.
        # With an expected record, only while the item is still that attempt in that state, so
        # an operator never deletes what a live owner completed or re-claimed since the read.
        if expected is not None and (old.status, old.owner, old.fence) != (
            expected.status,
            expected.owner,
            expected.fence,
        ):
            return False
        del self.records[key]
        return True


def machine_for(new_store: Callable[[], LockStore]) -> type[RuleBasedStateMachine]:
    """A state machine class whose examples each run on a store from ``new_store``."""

    class LockMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.store = new_store()
            # Keys of this example only, so examples sharing a table never meet.
            prefix = uuid.uuid4().hex[:12]
            self.keys = {name: f"{prefix}#{name}" for name in KEYS}
            self.model = Model()
            self.now_ms = START_MS
            self.last_base_us = 0
            self.claims = 0
            # The owner token each owner last claimed each key with (``ann-0`` before any).
            self.tokens = {(o, k): f"{o}-0" for o in OWNERS for k in self.keys.values()}
            # The lease end of each claim the store granted, while its owner believes it holds.
            self.holding: dict[tuple[str, str], int] = {}
            # The last fence granted per key, kept when the item is deleted.
            self.fences: dict[str, int] = {}
            # What the operator last read of each key.
            self.snapshots: dict[str, LockItem] = {}
            # The owner the store last granted each key to.
            self.granted: dict[str, str] = {}

        @initialize(offset_ms=st.sampled_from((0, 1, 500, 999)))
        def start_clock(self, offset_ms: int) -> None:
            # On, just after, within or just before a whole second: DynamoDB compares retention
            # in whole seconds (now_ms // 1000), the model in milliseconds.
            self.now_ms = START_MS + offset_ms

        def advance_clock_to_expiry(self, key: str, free: bool) -> None:
            """Onto the last instant the key is held, or the first it is free (if still ahead).

            That is the end of its lease, or of its retention, which is in whole seconds.
            """
            record = self.model.records.get(key)
            if record is None:
                return
            if record.status is LockStatus.IN_PROGRESS:
                assert record.lease_expires_at_ms is not None
                first_free_ms = record.lease_expires_at_ms + 1
            elif record.expires_at_s is not None:
                first_free_ms = record.expires_at_s * 1000
            else:
                return
            self.now_ms = max(self.now_ms, first_free_ms - (0 if free else 1))

        def fence_base(self) -> int:
            # Like idemlock._policy.FenceBase: time in µs, one above the last if time stood still.
            self.last_base_us = max(self.now_ms * 1000, self.last_base_us + 1)
            return self.last_base_us

        @rule(
            owner=owners,
            name=keys,
            fresh=st.booleans(),
            lease_ms=st.sampled_from(LEASES_MS),
            fingerprint=st.sampled_from(FINGERPRINTS),
            at_expiry=st.none() | st.booleans(),
        )
        def claim(
            self,
            *,
            owner: str,
            name: str,
            fresh: bool,
            lease_ms: int,
            fingerprint: str | None,
            at_expiry: bool | None,
        ) -> None:
            key = self.keys[name]
            if at_expiry is not None:  # Claim on the last held (False) or first free (True) ms.
                self.advance_clock_to_expiry(key, free=at_expiry)
            if fresh:  # A new invocation; otherwise a retry with the last token.
                self.claims += 1
                self.tokens[owner, key] = f"{owner}-{self.claims}"
                self.holding.pop((owner, key), None)
            claim = Claim(
                key=key,
                owner=self.tokens[owner, key],
                now_ms=self.now_ms,
                fence_base=self.fence_base(),
                lease_expires_at_ms=self.now_ms + lease_ms,
                expires_at_s=self.now_ms // 1000 + 3600,
                fingerprint=fingerprint,
            )
            old = self.model.records.get(key)
            if old is not None:  # The model's rule is still the library's definition of free.
                assert Model.free(old, self.now_ms) == old.is_free_at(self.now_ms)
            got = self.store.claim(claim)
            assert got == self.model.claim(claim)
            if got.acquired:
                assert got.item is not None
                assert got.item.lease_expires_at_ms is not None
                assert got.item.fence > self.fences.get(key, 0), "fence did not increase"
                self.fences[key] = got.item.fence
                self.holding[owner, key] = got.item.lease_expires_at_ms
                self.granted[key] = owner

        def actor(self, owner: str | None, key: str) -> tuple[str, str]:
            """``owner``, or (None) the one last granted ``key`` (else the first), and its token."""
            owner = owner or self.granted.get(key, OWNERS[0])
            return owner, self.tokens[owner, key]

        @rule(
            who=actors,
            name=keys,
            result=st.sampled_from(RESULTS),
            retention_s=st.sampled_from(RETENTIONS_S),
        )
        def complete(
            self, who: str | None, name: str, result: str | None, retention_s: int | None
        ) -> None:
            key = self.keys[name]
            owner, token = self.actor(who, key)
            expires_at_s = None if retention_s is None else self.now_ms // 1000 + retention_s
            done = self.store.complete(
                key, token, now_ms=self.now_ms, result=result, expires_at_s=expires_at_s
            )
            assert done == self.model.complete(key, token, self.now_ms, result, expires_at_s)
            if done:
                self.holding.pop((owner, key), None)

        @rule(who=actors, name=keys)
        def release(self, who: str | None, name: str) -> None:
            key = self.keys[name]
            owner, token = self.actor(who, key)
            released = self.store.release(key, token)
            assert released == self.model.release(key, token)
            if released:
                self.holding.pop((owner, key), None)

        @rule(ms=st.sampled_from(ADVANCES_MS))
        def advance_clock(self, ms: int) -> None:
            self.now_ms += ms

        @rule(name=keys)
        def operator_reads(self, name: str) -> None:
            key = self.keys[name]
            record = self.store.get(key)
            assert record == self.model.records.get(key)
            if record is None:
                self.snapshots.pop(key, None)
            else:
                self.snapshots[key] = record

        @rule(name=keys, as_read=st.booleans())
        def operator_deletes(self, name: str, as_read: bool) -> None:
            key = self.keys[name]
            expected = self.snapshots.get(key) if as_read else None
            old = self.model.records.get(key)
            deleted = self.store.delete(key, expected=expected)
            assert deleted == self.model.delete(key, expected)
            if deleted and old is not None:
                # The operator broke this lock on purpose: its owner no longer holds the key.
                for (o, k), token in self.tokens.items():
                    if k == key and token == old.owner:
                        self.holding.pop((o, k), None)

        @invariant()
        def store_agrees_with_model(self) -> None:
            for key in self.keys.values():
                assert self.store.get(key) == self.model.records.get(key)

        @invariant()
        def at_most_one_owner_holds_each_key(self) -> None:
            for key in self.keys.values():
                holders = [
                    o
                    for (o, k), lease_end in self.holding.items()
                    if k == key and lease_end >= self.now_ms
                ]
                assert len(holders) <= 1, f"{holders} all hold {key}"
                if holders:
                    record = self.model.records.get(key)
                    assert record is not None
                    assert record.status is LockStatus.IN_PROGRESS
                    assert record.owner == self.tokens[holders[0], key]

    return LockMachine


def check(new_store: Callable[[], LockStore], examples: int) -> None:
    """Run the state machine on stores from ``new_store`` for ``examples`` (times the soak)."""
    options: dict[str, Any] = {"derandomize": True, "database": None} if CI else {}
    config = settings(
        max_examples=examples * SOAK,
        stateful_step_count=STEPS,
        deadline=None,  # A DynamoDB step is an HTTP round trip or four.
        suppress_health_check=[HealthCheck.too_slow],
        **options,
    )
    # Older hypothesis releases leave run_state_machine_as_test unannotated; newer annotate it.
    run_state_machine_as_test(machine_for(new_store), settings=config)  # type: ignore[no-untyped-call,unused-ignore]


def test_memory_store_follows_the_model() -> None:
    """MemoryStore answers every random interleaving exactly as the reference model does."""
    check(MemoryStore, examples=200)


@pytest.mark.slow
def test_dynamodb_local_follows_the_model(dynamodb_local: str) -> None:
    """DynamoDB Local (ALL_OLD on a refused claim) answers every interleaving as the model does."""
    table = fresh_table(dynamodb_local)
    check(lambda: table, examples=40)


@pytest.mark.slow
def test_dynalite_follows_the_model(dynalite: str) -> None:
    """dynalite (a refused claim read back by GetItem) answers every interleaving as the model."""
    table = fresh_table(dynalite)
    check(lambda: table, examples=25)
