"""``BatchWritesContract``: a store's batch writes answer as its single-item writes do.

Part of :class:`~idemlock.testing.contract.LockStoreContract`. For a store with
:class:`~idemlock.store.BatchWrites`, the same items are set up twice, under two key prefixes:
one set is claimed (completed, released) one call per key, the other in one batch call, and the
answers and the items left behind must be the same. A store without batch writes skips these.
This module imports pytest: import it from tests only.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from idemlock.item import LockItem
from idemlock.store import (
    BatchWrites,
    Claim,
    CompleteRequest,
    LockStore,
    ReleaseRequest,
    batch_writes,
)
from idemlock.testing import ManualClock

__all__ = ["BatchWritesContract"]

_CLAIM_STATES = (
    "absent",
    "held",
    "lapsed",
    "lapsed_refuse",
    "completed",
    "retention_over",
    "freed",
    "ours",
    "marked",
)
"""The states of a key a claim meets: each batch claim must answer as the single claim does."""

_OWNED_STATES = ("ours", "others", "absent", "completed_by_us")
"""The states a complete or a release meets."""


class BatchWritesContract:
    """The batch half of the contract; ``store``, ``clock`` and ``namespace`` are the suite's."""

    clock: ManualClock
    namespace: str

    @property
    def store(self) -> LockStore:
        """The store under test (the suite's)."""
        raise NotImplementedError

    def _batches(self) -> BatchWrites:
        batches = batch_writes(self.store)
        if batches is None:
            pytest.skip(f"{type(self.store).__name__} has no batch writes")
        return batches

    def _key(self, prefix: str, state: str) -> str:
        return f"{self.namespace}#{prefix}-{state}"

    def _claim(self, key: str, owner: str, now_ms: int) -> Claim:
        return Claim(key, owner, now_ms, now_ms * 1000, now_ms + 1000, now_ms // 1000 + 60)

    def _set_up_claims(self, prefix: str, now_ms: int) -> list[Claim]:
        """Every claim state under ``prefix``; the claims to send at ``now_ms`` (by "me")."""
        store = self.store
        earlier = now_ms - 5000
        claims = []
        for state in _CLAIM_STATES:
            key = self._key(prefix, state)
            held_by = "me" if state == "ours" else "other"
            if state != "absent":
                start = now_ms - 10 if state in ("held", "ours") else earlier
                assert store.claim(self._claim(key, held_by, start)).acquired
            if state in ("completed", "retention_over"):
                expires = now_ms // 1000 + (60 if state == "completed" else 0)
                assert store.complete(
                    key, "other", now_ms=earlier, result="1", expires_at_s=expires
                )
            elif state == "freed":
                assert store.free(key, "other", now_ms=earlier + 1)
            elif state == "marked":
                assert store.mark_unknown(key, "other", now_ms=earlier + 2000)
            claim = self._claim(key, "me", now_ms)
            if state == "ours":
                claim = self._claim(key, "me", now_ms - 10)  # the same claim again: a lost answer
            claims.append(claim._replace(take_over=state != "lapsed_refuse"))
        return claims

    def _items(self, prefix: str, states: tuple[str, ...]) -> list[LockItem | None]:
        return [_unprefixed(self.store.get(self._key(prefix, s)), prefix) for s in states]

    def test_claim_many_answers_each_claim_as_claim_does(self) -> None:
        """Each batch claim acquires, or is refused with the holding item, exactly as a single
        claim of a key in that state: absent, held, lapsed (taken over, or not without
        takeover), completed, retention over, freed, our own (a lost answer), marked.
        """
        batches = self._batches()
        now = int(self.clock() * 1000)
        singly = [self.store.claim(c) for c in self._set_up_claims("one", now)]
        together = batches.claim_many(self._set_up_claims("many", now))
        assert [_unprefixed_answer(a, "one") for a in singly] == [
            _unprefixed_answer(a, "many") for a in together
        ]
        assert [a.acquired for a in singly] == [
            True, False, True, False, False, True, True, False, False
        ]  # fmt: skip
        assert self._items("one", _CLAIM_STATES) == self._items("many", _CLAIM_STATES)

    def _set_up_owned(self, prefix: str, now_ms: int) -> list[str]:
        keys = []
        for state in _OWNED_STATES:
            key = self._key(prefix, state)
            keys.append(key)
            if state != "absent":
                owner = "other" if state == "others" else "me"
                assert self.store.claim(self._claim(key, owner, now_ms)).acquired
            if state == "completed_by_us":
                assert self.store.complete(key, "me", now_ms=now_ms, result="0", expires_at_s=None)
        return keys

    def test_complete_many_completes_as_complete_does(self) -> None:
        """Each batch complete stores status, result and retention for its owner only, and
        answers as a single complete: ours, another's, absent, completed by us already (a
        retried complete). Results of every size, stored compressed or not, read back the same.
        """
        batches = self._batches()
        now = int(self.clock() * 1000)
        results = ['"ok"', None, "[" + "1," * 2000 + "1]", '{"a": 1}']
        expiries = [now // 1000 + 60, None, None, now // 1000 + 5]

        def completes(prefix: str) -> list[CompleteRequest]:
            keys = self._set_up_owned(prefix, now)
            return [
                CompleteRequest(key, "me", now + 1, result, expires)
                for key, result, expires in zip(keys, results, expiries, strict=True)
            ]

        store = self.store
        singly = [
            store.complete(
                c.key, c.owner, now_ms=c.now_ms, result=c.result, expires_at_s=c.expires_at_s
            )
            for c in completes("one")
        ]
        together = batches.complete_many(completes("many"))
        assert singly == together == [True, False, False, True]
        assert self._items("one", _OWNED_STATES) == self._items("many", _OWNED_STATES)

    def test_release_many_releases_as_release_does(self) -> None:
        """Each batch release deletes the key for its owner only; a key already gone counts
        as released; another owner's item, or a completed one of ours, stays as it was.
        """
        batches = self._batches()
        now = int(self.clock() * 1000)
        singly = [self.store.release(key, "me") for key in self._set_up_owned("one", now)]
        many = self._set_up_owned("many", now)
        together = batches.release_many([ReleaseRequest(key, "me") for key in many])
        assert singly == together
        assert singly[:3] == [True, False, True]
        assert self._items("one", _OWNED_STATES) == self._items("many", _OWNED_STATES)

    def test_a_batch_of_new_keys_is_claimed_completed_and_released_in_one_call_each(
        self,
    ) -> None:
        """A full batch of new keys: every claim acquired, every complete and release done."""
        batches = self._batches()
        now = int(self.clock() * 1000)
        run = uuid.uuid4().hex[:8]
        keys = [self._key(run, str(n)) for n in range(batches.batch_limit)]
        claimed = batches.claim_many([self._claim(key, "me", now) for key in keys])
        assert all(not isinstance(a, Exception) and a.acquired for a in claimed)
        half = len(keys) // 2
        completes = [CompleteRequest(k, "me", now + 1, "1", None) for k in keys[:half]]
        assert batches.complete_many(completes) == [True] * half
        releases = [ReleaseRequest(k, "me") for k in keys[half:]]
        assert batches.release_many(releases) == [True] * (len(keys) - half)
        assert [self.store.get(k) is None for k in keys] == [False] * half + [True] * (
            len(keys) - half
        )


def _unprefixed(item: LockItem | None, prefix: str) -> LockItem | None:
    """``item`` with its key as the other prefix's would be, to compare the two sets."""
    if item is None:
        return None
    return item._replace(key=item.key.replace(f"#{prefix}-", "#"))


def _unprefixed_answer(answer: Any, prefix: str) -> Any:
    if isinstance(answer, Exception):
        return repr(answer)
    return answer._replace(item=_unprefixed(answer.item, prefix))
