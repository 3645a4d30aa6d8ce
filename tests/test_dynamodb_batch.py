"""DynamoDBStore's batch writes on real servers: races, retries, fallbacks, requests per batch.

Each batch call answering as the single calls do is the contract's (tests/test_contract.py, on
DynamoDB Local and dynalite, with and without a sort key); here what only a real server shows,
and (botocore's Stubber) what a DynamoDB answer no local server gives leads to.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from idemlock import AttributeNames, DynamoDBStore, idempotent_records
from idemlock.batch import RecordStatus
from idemlock.dynamodb import BATCH_ACTIONS
from idemlock.errors import TableMismatchError
from idemlock.store import Claim, ClaimResult
from idemlock.testing import LambdaContext, ManualClock
from tests.aws import fresh_table, make_client
from tests.batch_events import kinesis_event, number, sqs_event
from tests.round_trips import RoundTrips


def claims_of(keys: list[str], owner: str) -> list[Claim]:
    now = int(time.time() * 1000)
    return [Claim(key, owner, now, now * 1000, now + 60_000, now // 1000 + 60) for key in keys]


def race(stores: dict[str, DynamoDBStore], batches: dict[str, list[str]]) -> dict[str, list[Any]]:
    """Each owner's claim_many of its keys, all sent at the same moment: their answers."""
    start = threading.Barrier(len(stores))
    answers: dict[str, list[Any]] = {}

    def claim(owner: str) -> None:
        start.wait()
        answers[owner] = stores[owner].claim_many(claims_of(batches[owner], owner))

    threads = [threading.Thread(target=claim, args=(owner,)) for owner in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_two_batches_racing_for_the_same_keys_take_each_key_once(dynamodb_local: str) -> None:
    """Two invocations claim 25 keys each, 15 of them the same, at the same moment, twenty
    times over: every key is acquired by exactly one, and the item names that one."""
    store = fresh_table(dynamodb_local)
    stores = {"a": store, "b": DynamoDBStore(store.table_name, client=make_client(dynamodb_local))}
    for round_ in range(20):
        keys = [f"race-{round_}-{n}" for n in range(35)]
        batches = {"a": keys[:25], "b": keys[10:]}
        won: dict[str, list[str]] = {key: [] for key in keys}
        for owner, answers in race(stores, batches).items():
            for key, answer in zip(batches[owner], answers, strict=True):
                assert isinstance(answer, ClaimResult)
                if answer.acquired:
                    won[key].append(owner)
                else:
                    assert answer.item is not None
                    assert answer.item.owner != owner
        assert all(len(owners) == 1 for owners in won.values()), won
        for key, (owner,) in won.items():
            item = store.get(key)
            assert item is not None
            assert item.owner == owner


def test_a_batch_costs_a_request_per_25_records_and_a_redelivery_a_read_more(
    dynamodb_local: str,
) -> None:
    """100 Kinesis records: 4 claim and 4 complete requests. Delivered again: the 4 claim
    requests find every key held, and one BatchGetItem per request reads their items."""
    store = fresh_table(dynamodb_local)
    # A clock that stands still: a first PartiQL request can take DynamoDB Local over a second
    # (the renewal threshold) on a loaded machine; the count is the batch's, never renewals.
    handler = idempotent_records(store=store, namespace="k", clock=ManualClock())(
        lambda record, context: 1
    )
    with RoundTrips().counting(store.client) as trips:
        handler(kinesis_event(100), LambdaContext())
        first = list(trips.operations)
        trips.reset()
        outcome = handler.process(kinesis_event(100), LambdaContext())
    assert first == ["BatchExecuteStatement"] * 8
    assert sorted(trips.operations) == ["BatchExecuteStatement"] * 4 + ["BatchGetItem"] * 4
    assert {o.status for o in outcome.records} == {RecordStatus.DUPLICATE}


def test_on_a_backend_without_partiql_batches_fall_back_to_one_request_per_record(
    dynalite: str, caplog: pytest.LogCaptureFixture
) -> None:
    """dynalite has no BatchExecuteStatement: the first batch call learns it (one warning), the
    calls still answer right, and from then on a batch sends one request per record."""
    store = fresh_table(dynalite)
    handler = idempotent_records(store=store, namespace="k")(lambda record, context: 1)
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        handler(kinesis_event(3), LambdaContext())
    assert not store.writes_in_batches
    [warning] = [r.message for r in caplog.records if "BatchExecuteStatement" in r.message]
    assert "idemlock doctor" in warning  # which checks an endpoint for PartiQL
    with RoundTrips().counting(store.client) as trips:
        outcome = handler.process(kinesis_event(5), LambdaContext())
    assert [o.status for o in outcome.records] == [RecordStatus.DUPLICATE] * 3 + [
        RecordStatus.COMPLETED
    ] * 2
    assert sorted(set(trips.operations)) == ["GetItem", "UpdateItem"]  # dynalite: no ALL_OLD


class Interfering:
    """A botocore client whose BatchExecuteStatement answers go through ``change``."""

    def __init__(self, client: Any, change: Any) -> None:
        self.client = client
        self.change = change
        self.sent: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def batch_execute_statement(self, **params: Any) -> Any:
        self.sent.append(len(params["Statements"]))
        return self.change(self.client, params, len(self.sent))


def test_a_throttled_statement_is_sent_again_alone(dynamodb_local: str) -> None:
    """A statement refused for throttling (the request succeeded) is sent again by itself;
    every claim is then acquired once."""
    table = fresh_table(dynamodb_local)

    def throttle_second_statement_once(client: Any, params: Any, request: int) -> Any:
        if request > 1:
            return client.batch_execute_statement(**params)
        statements = params["Statements"]
        response = client.batch_execute_statement(Statements=statements[:1] + statements[2:])
        throttled = {"Error": {"Code": "ThrottlingError", "Message": "slow down"}}
        response["Responses"].insert(1, throttled)
        return response

    client = Interfering(table.client, throttle_second_statement_once)
    store = DynamoDBStore(table.table_name, client=client)  # type: ignore[arg-type]
    keys = [f"t-{n}" for n in range(5)]
    answers = store.claim_many(claims_of(keys, "me"))
    assert [isinstance(a, ClaimResult) and a.acquired for a in answers] == [True] * 5
    assert client.sent == [5, 1]
    assert all(item.owner == "me" for item in map(table.get, keys) if item is not None)


def test_a_refusal_that_brings_the_item_back_needs_no_read(dynamodb_local: str) -> None:
    """A DuplicateItem refusal with the item (the statements ask for ALL_OLD; DynamoDB Local
    answers without it) is answered from that item: no BatchGetItem."""
    table = fresh_table(dynamodb_local)
    assert table.claim(claims_of(["held"], "other")[0]).acquired
    held = table.get_item("held")

    def with_the_item(client: Any, params: Any, request: int) -> Any:
        response = client.batch_execute_statement(**params)
        for answer in response["Responses"]:
            if answer.get("Error", {}).get("Code") == "DuplicateItem":
                answer["Error"]["Item"] = held
        return response

    store = DynamoDBStore(table.table_name, client=Interfering(table.client, with_the_item))  # type: ignore[arg-type]
    with RoundTrips().counting(table.client) as trips:
        answers = store.claim_many(claims_of(["new", "held"], "me"))
    assert [isinstance(a, ClaimResult) and a.acquired for a in answers] == [True, False]
    assert isinstance(answers[1], ClaimResult)
    assert answers[1].item == table.get("held")
    assert trips.operations == ["BatchExecuteStatement"]


def completed_item(key: str, result: str) -> dict[str, Any]:
    """A key's item as DynamoDB holds it once another invocation completed it with ``result``."""
    now = int(time.time() * 1000)
    return {
        "id": {"S": key},
        "status": {"S": "COMPLETED"},
        "owner": {"S": "first-delivery"},
        "fence": {"N": str(now * 1000)},
        "claimed_at_ms": {"N": str(now - 1_000)},
        "completed_at_ms": {"N": str(now - 500)},
        "expires_at_s": {"N": str(now // 1000 + 3_600)},
        "attempts": {"N": "1"},
        "result": {"S": result},
    }


def test_a_redelivered_batch_is_one_wave_when_dynamodb_returns_the_items() -> None:
    """Each INSERT of a redelivered batch refused with the item (ALL_OLD, as the API reference
    says of BatchStatementError.Item): every record is a duplicate with its stored result, from
    the one BatchExecuteStatement; no BatchGetItem follows (the Stubber has none to answer)."""
    client = make_client("http://127.0.0.1:9")
    store = DynamoDBStore("locks", client=client)
    event = sqs_event(25)
    handler = idempotent_records(lambda record: str(number(record)), store=store, namespace="k")(
        lambda record, context: {"n": number(record)}
    )
    refusals = [
        {
            "Error": {
                "Code": "DuplicateItem",
                "Message": "Duplicate primary key exists in table",
                "Item": completed_item(f"k#{n}", json.dumps({"n": n})),
            }
        }
        for n in range(25)
    ]
    with Stubber(client) as stub:
        stub.add_response("batch_execute_statement", {"Responses": refusals})
        outcome = handler.process(event, LambdaContext())
        stub.assert_no_pending_responses()
    assert [o.status for o in outcome.records] == [RecordStatus.DUPLICATE] * 25
    assert [o.result for o in outcome.records] == [{"n": n} for n in range(25)]


DENIED: Any = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}


class Denying(Interfering):
    """A role allowed the single-item actions only: denied as the request, per statement, or
    on the BatchGetItem that reads the items of keys a claim found held."""

    def __init__(self, client: Any, where: str) -> None:
        super().__init__(client, self.answer)
        self.where = where

    def answer(self, client: Any, params: Any, request: int) -> Any:
        if self.where == "request":
            raise ClientError(DENIED, "BatchExecuteStatement")
        if self.where == "statement":
            statement = {"Error": {"Code": "AccessDenied", "Message": "not authorized"}}
            return {"Responses": [statement for _ in params["Statements"]]}
        return client.batch_execute_statement(**params)

    def batch_get_item(self, **params: Any) -> Any:
        raise ClientError(DENIED, "BatchGetItem")


@pytest.mark.parametrize("where", ["request", "statement", "read"])
def test_without_the_iam_actions_batches_fall_back_with_a_warning_naming_them(
    dynamodb_local: str, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    """A role without the PartiQL actions (or BatchGetItem) is refused, however DynamoDB says it:
    the store names the actions to allow, once, and answers by single requests, as before
    batches: a free key is acquired, a held one is refused with its holder's item."""
    table = fresh_table(dynamodb_local)
    assert table.claim(claims_of(["held"], "other")[0]).acquired
    store = DynamoDBStore(table.table_name, client=Denying(table.client, where))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        answers = store.claim_many(claims_of(["d-1", "held"], "me"))
        again = store.claim_many(claims_of(["d-2"], "me"))
    acquired = [isinstance(a, ClaimResult) and a.acquired for a in [*answers, *again]]
    assert acquired == [True, False, True]
    assert isinstance(answers[1], ClaimResult)
    assert answers[1].item is not None
    assert answers[1].item.owner == "other"
    assert not store.writes_in_batches
    warnings = [r.message for r in caplog.records if "PartiQL" in r.message]
    assert len(warnings) == 1
    assert all(action in warnings[0] for action in BATCH_ACTIONS)
    assert "idemlock template" in warnings[0]  # the fix: the policy that grants them
    assert "idemlock doctor" in warnings[0]  # and the check that the role has them


def test_a_batch_on_a_table_keyed_otherwise_is_a_table_mismatch(dynamodb_local: str) -> None:
    """A table with a sort key, a store told of none: each record of the batch fails with the
    TableMismatchError the single claim raises, naming the option to pass; nothing is written."""
    app = fresh_table(dynamodb_local, attributes=AttributeNames(key="id", sort_key="SK"))
    store = DynamoDBStore(app.table_name, client=make_client(dynamodb_local))
    handler = idempotent_records(store=store, namespace=uuid.uuid4().hex)(lambda record, context: 1)
    outcome = handler.process(kinesis_event(2), LambdaContext())
    assert [o.status for o in outcome.records] == [RecordStatus.FAILED] * 2
    error = outcome.records[0].error
    assert isinstance(error, TableMismatchError)
    assert "sort_key='SK'" in str(error)
    assert app.client.scan(TableName=app.table_name)["Items"] == []
