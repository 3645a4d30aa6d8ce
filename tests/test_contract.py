"""The lock store contract, run on every store of idemlock: the one place backends are chosen.

:class:`idemlock.testing.contract.LockStoreContract` runs on MemoryStore, on DynamoDB Local (which
returns the old item of a refused write, ``ALL_OLD``) and on dynalite (which does not: the GetItem
fallback), each with a lock table of its own and with an application's single table (a sort key,
the application's items beside idemlock's, which the contract must leave untouched). Round trips
are counted per store call on MemoryStore and at the HTTP layer on DynamoDB. The last tests show
the contract fails a store that breaks it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from idemlock import AttributeNames, Claim, ClaimResult, DynamoDBStore, LockStore
from idemlock.errors import StoreError
from idemlock.store import CompleteRequest
from idemlock.testing import MemoryStore
from idemlock.testing.contract import LockStoreContract
from tests.aws import fresh_table
from tests.round_trips import RoundTrips


class TestMemoryStore(LockStoreContract):
    def make_store(self) -> MemoryStore:
        self.memory = MemoryStore()
        return self.memory

    def round_trips(self) -> int | None:
        return self.memory.calls.total()

    def reset_round_trips(self) -> None:
        self.memory.calls.clear()


APP_ITEMS = [
    {"PK": {"S": "ORDER#1"}, "SK": {"S": "METADATA"}, "status": {"S": "IN_PROGRESS"}},
    {"PK": {"S": "ORDER#1"}, "SK": {"S": "LINE#1"}, "sku": {"S": "A"}},
]
"""An application's own items in its single table; a status that looks like a lock's, too."""


@pytest.fixture(scope="module")
def _tables() -> dict[tuple[str, bool], DynamoDBStore]:
    """One lock table per server and shape for the module; each test uses a fresh namespace."""
    return {}


@pytest.mark.servers  # through getfixturevalue, which the automatic mark cannot see
class _OnDynamoDB(LockStoreContract):
    """The contract on a DynamoDB-protocol server, counting HTTP round trips."""

    server = ""
    """The fixture with the server's endpoint."""
    single_table = False
    """Run on an application's (PK, SK) table holding APP_ITEMS, which must stay untouched."""

    @pytest.fixture(autouse=True)
    def _table(
        self, request: pytest.FixtureRequest, _tables: dict[tuple[str, bool], DynamoDBStore]
    ) -> Iterator[None]:
        shape = (self.server, self.single_table)
        if shape not in _tables:
            _tables[shape] = self._make_table(request.getfixturevalue(self.server))
        self.table = _tables[shape]
        with RoundTrips().counting(self.table.client) as trips:
            self.trips = trips
            yield
        if self.single_table:
            for item in APP_ITEMS:
                found = self.table.client.get_item(
                    TableName=self.table.table_name,
                    Key={"PK": item["PK"], "SK": item["SK"]},
                    ConsistentRead=True,
                )
                assert found.get("Item") == item

    def _make_table(self, endpoint: str) -> DynamoDBStore:
        if not self.single_table:
            return fresh_table(endpoint)
        store = fresh_table(endpoint, attributes=AttributeNames(key="PK", sort_key="SK"))
        for item in APP_ITEMS:
            store.client.put_item(TableName=store.table_name, Item=item)
        return store

    def make_store(self) -> LockStore:
        return self.table

    def round_trips(self) -> int | None:
        return self.trips.count

    def reset_round_trips(self) -> None:
        self.trips.reset()


class TestDynamoDBLocal(_OnDynamoDB):
    server = "dynamodb_local"


class TestDynalite(_OnDynamoDB):
    server = "dynalite"
    returns_old_item = False  # it ignores ReturnValuesOnConditionCheckFailure


class TestDynamoDBLocalSingleTable(_OnDynamoDB):
    server = "dynamodb_local"
    single_table = True


class TestDynaliteSingleTable(_OnDynamoDB):
    server = "dynalite"
    single_table = True
    returns_old_item = False


# -- the contract fails a broken store --------------------------------------------------------


class ReleaseIgnoresOwner(MemoryStore):
    """Broken: deletes the key whoever asks, so a stale owner frees the new owner's claim."""

    def release(self, key: str, owner: str) -> bool:
        with self._lock:
            self._items.pop(key, None)
        return True


class CompleteIgnoresOwner(MemoryStore):
    """Broken: completes the key for whoever asks."""

    def complete(
        self, key: str, owner: str, *, now_ms: int, result: str | None, expires_at_s: int | None
    ) -> bool:
        item = self.get(key)
        return item is not None and super().complete(
            key, item.owner, now_ms=now_ms, result=result, expires_at_s=expires_at_s
        )


class LeaseNeverEnds(MemoryStore):
    """Broken: an IN_PROGRESS key is never free again (no takeover after a crash)."""

    def claim(self, claim: Claim) -> ClaimResult:
        old = self.get(claim.key)
        if old is not None and old.lease_expires_at_ms is not None:
            return super().claim(claim._replace(now_ms=min(claim.now_ms, old.lease_expires_at_ms)))
        return super().claim(claim)


class CompleteManyIgnoresOwner(MemoryStore):
    """Broken in its batch writes only: a batch complete completes the key for whoever asks."""

    def complete_many(self, completes: Sequence[CompleteRequest]) -> list[bool | StoreError]:
        owned = []
        for complete in completes:
            item = self.get(complete.key)
            owned.append(
                complete
                if item is None
                else CompleteRequest(
                    complete.key,
                    item.owner,
                    complete.now_ms,
                    complete.result,
                    complete.expires_at_s,
                )
            )
        return super().complete_many(owned)


@pytest.mark.parametrize(
    ("broken", "failing"),
    [
        (ReleaseIgnoresOwner, "test_release_frees_only_the_owners_key"),
        (CompleteManyIgnoresOwner, "test_complete_many_completes_as_complete_does"),
        (CompleteIgnoresOwner, "test_complete_stores_the_result_for_its_owner_only"),
        (LeaseNeverEnds, "test_lease_and_retention_end_exactly_at_their_boundaries"),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_the_contract_fails_a_broken_store(
    pytester: pytest.Pytester, broken: type, failing: str
) -> None:
    """A store that breaks one rule the claim steps rely on fails the contract on that rule."""
    pytester.makepyfile(
        test_broken=f"""
from tests.test_contract import {broken.__name__}
from idemlock.testing.contract import LockStoreContract


class TestBroken(LockStoreContract):
    def make_store(self):
        return {broken.__name__}()
"""
    )
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1
    assert outcomes.get("passed", 0) > 0
    result.stdout.fnmatch_lines([f"*FAILED*TestBroken::{failing}*"])
