"""DynamoDBStore on real servers: lost responses, errors, table setup, attribute names."""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from idemlock import AttributeNames, DynamoDBStore, idempotent
from idemlock.dynamodb import RUNTIME_ACTIONS
from idemlock.errors import (
    AccessDeniedError,
    ConfigurationError,
    InProgressError,
    PayloadMismatchError,
    StoreError,
    TableMismatchError,
    TableNotFoundError,
)
from idemlock.item import LockStatus
from idemlock.store import Claim
from idemlock.testing import ManualClock
from tests.aws import fresh_table, make_client
from tests.proxy import TcpProxy
from tests.round_trips import RoundTrips

SERVERS = ("dynamodb_local", "dynalite")


def key_of(event: dict[str, Any]) -> str:
    return str(event["id"])


@pytest.fixture(params=[pytest.param(s, marks=pytest.mark.servers) for s in SERVERS])
def endpoint(request: pytest.FixtureRequest) -> str:
    """Each real server's endpoint URL in turn."""
    url: str = request.getfixturevalue(request.param)
    return url


@pytest.fixture
def proxied(endpoint: str) -> Iterator[tuple[DynamoDBStore, TcpProxy, RoundTrips]]:
    """A fresh table reached through a fault-injecting proxy, with its round trips counted."""
    table = fresh_table(endpoint)
    port = urlsplit(endpoint).port
    assert port is not None
    with TcpProxy(port) as proxy:
        store = DynamoDBStore(table.table_name, client=make_client(proxy.endpoint_url))
        with RoundTrips().counting(store.client) as trips:
            yield store, proxy, trips


def test_lost_claim_response_is_recognised_by_its_owner_token(
    proxied: tuple[DynamoDBStore, TcpProxy, RoundTrips],
    clock: ManualClock,
    request: pytest.FixtureRequest,
) -> None:
    """The claim applies, its response is lost, botocore retries: the retry sees our own item."""
    store, proxy, trips = proxied
    runs: list[str] = []

    @idempotent(key_of, store=store, namespace="lost", clock=clock)
    def handler(event: dict[str, Any]) -> str:
        runs.append(event["id"])
        return "done"

    proxy.drop_next_responses(1)
    assert handler({"id": "k"}) == "done"

    assert proxy.dropped == 1
    assert runs == ["k"]
    # Claim, its retry (refused by our own item; dynalite then reads it), complete.
    fallback = ["GetItem"] if request.node.callspec.params["endpoint"] == "dynalite" else []
    assert trips.operations == ["UpdateItem", "UpdateItem", *fallback, "UpdateItem"]
    record = store.get("lost#k")
    assert record is not None
    assert (record.status, record.result) == (LockStatus.COMPLETED, '"done"')


def test_lost_release_response_still_releases_and_reraises(
    proxied: tuple[DynamoDBStore, TcpProxy, RoundTrips],
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The delete applies, its response is lost, the retry finds the item gone: released."""
    store, proxy, _ = proxied
    failure = RuntimeError("body failed")

    @idempotent(key_of, store=store, namespace="lost", clock=clock)
    def handler(event: dict[str, Any]) -> None:
        proxy.drop_next_responses(1)  # the next response is the release's
        raise failure

    with caplog.at_level(logging.WARNING, logger="idemlock"), pytest.raises(RuntimeError) as caught:
        handler({"id": "k"})

    assert caught.value is failure
    assert proxy.dropped == 1
    assert store.get("lost#k") is None
    assert caplog.records == []


def test_lost_complete_response_is_retried_to_success(
    proxied: tuple[DynamoDBStore, TcpProxy, RoundTrips], clock: ManualClock
) -> None:
    """The complete applies, its response is lost: the retried complete succeeds again."""
    store, proxy, _ = proxied

    @idempotent(key_of, store=store, namespace="lost", clock=clock)
    def handler(event: dict[str, Any]) -> str:
        proxy.drop_next_responses(1)  # the next response is the complete's
        return "stored"

    assert handler({"id": "k"}) == "stored"
    assert proxy.dropped == 1
    record = store.get("lost#k")
    assert record is not None
    assert (record.status, record.result) == (LockStatus.COMPLETED, '"stored"')


RESERVED_WORDS = AttributeNames(
    key="name",
    status="status",
    owner="owner",
    fence="size",
    attempts="count",
    claimed_at_ms="time",
    lease_expires_at_ms="lease",
    expires_at_s="ttl",
    completed_at_ms="date",
    result="data",
    fingerprint="hash",
)
"""Every attribute renamed to a DynamoDB reserved word."""

AWKWARD_NAMES = AttributeNames(
    key="order-id",
    status="state.now",
    owner="owned by",
    fence="1fence",
    attempts="_attempts",
    claimed_at_ms="if_not_exists",
    lease_expires_at_ms="Attribute_Exists",
    expires_at_s="list_append",
    completed_at_ms="begins_with",
    result="attribute_type",
    fingerprint="attribute_not_exists",
)
"""Names that need a placeholder though they look plain: dashes, dots, spaces, a leading digit,
an underscore first, an expression function's name in any case."""


@pytest.mark.parametrize("names", [RESERVED_WORDS, AWKWARD_NAMES], ids=["reserved", "awkward"])
def test_renamed_attributes_work_end_to_end(
    endpoint: str, clock: ManualClock, names: AttributeNames
) -> None:
    """Claim, in progress, replay, failure and mismatch with every attribute renamed to a name
    an expression cannot hold as it is."""
    store = fresh_table(endpoint, attributes=names)
    runs: list[str] = []

    @idempotent(
        key_of,
        store=store,
        namespace="ns",
        clock=clock,
        fingerprint=lambda event: event.get("amount"),
    )
    def handler(event: dict[str, Any]) -> object:
        runs.append(event["id"])
        if event.get("nested"):
            with pytest.raises(InProgressError):
                handler({"id": event["id"], "amount": event.get("amount")})
        if event.get("fail"):
            raise ValueError("fail")
        return {"ok": event["id"]}

    assert handler({"id": "a", "amount": 1, "nested": True}) == {"ok": "a"}
    assert handler({"id": "a", "amount": 1}) == {"ok": "a"}
    with pytest.raises(PayloadMismatchError):
        handler({"id": "a", "amount": 2})
    with pytest.raises(ValueError, match="fail"):
        handler({"id": "b", "fail": True})
    assert store.get("ns#b") is None
    assert handler({"id": "b"}) == {"ok": "b"}
    assert runs == ["a", "b", "b"]
    raw = store.client.get_item(TableName=store.table_name, Key={names.key: {"S": "ns#a"}})
    stored = {names.key, names.status, names.owner, names.fence, names.attempts}
    stored |= {names.claimed_at_ms, names.expires_at_s, names.completed_at_ms, names.result}
    assert stored <= set(raw["Item"])


def test_the_claim_names_only_the_reserved_words_by_placeholder(dynamodb_local: str) -> None:
    """The default names DynamoDB does not reserve go into the claim's expressions as they are:
    each placeholder is an entry botocore checks and serialises on every request."""
    store = fresh_table(dynamodb_local)
    sent: list[dict[str, Any]] = []
    store.client.meta.events.register(
        "provide-client-params.dynamodb.UpdateItem", lambda params, **_: sent.append(params)
    )

    @idempotent(key_of, store=store, namespace="ns")
    def handler(event: dict[str, Any]) -> str:
        return "done"

    assert handler({"id": "a"}) == "done"
    claim, complete = sent
    assert claim["ExpressionAttributeNames"] == {
        "#status": "status",
        "#owner": "owner",
        "#result": "result",
    }
    assert "attribute_not_exists(id)" in claim["ConditionExpression"]
    assert "#fence" not in claim["UpdateExpression"]
    assert set(complete["ExpressionAttributeNames"]) == {"#status", "#owner", "#result"}


def test_create_table_is_idempotent_with_ttl_on(dynamodb_local: str) -> None:
    """create_table makes an on-demand table with TTL on expires_at_s; again, it is a no-op."""
    store = DynamoDBStore(f"locks-{uuid.uuid4().hex[:8]}", client=make_client(dynamodb_local))

    assert store.create_table() is True
    assert store.create_table() is False
    table = store.client.describe_table(TableName=store.table_name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    ttl = store.client.describe_time_to_live(TableName=store.table_name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at_s"
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"


def test_create_table_refuses_a_table_with_another_key_schema(dynamodb_local: str) -> None:
    """An existing table keyed differently is a TableMismatchError naming the needed key."""
    client = make_client(dynamodb_local)
    name = f"other-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )

    with pytest.raises(TableMismatchError, match="'id'") as caught:
        DynamoDBStore(name, client=client).create_table()
    assert caught.value.table == name


def test_create_table_on_a_backend_without_ttl(
    dynalite: str, caplog: pytest.LogCaptureFixture
) -> None:
    """dynalite has no TTL API: the table is still created, with a warning."""
    store = DynamoDBStore(f"locks-{uuid.uuid4().hex[:8]}", client=make_client(dynalite))

    with caplog.at_level(logging.WARNING, logger="idemlock"):
        assert store.create_table() is True
    assert "does not support TTL" in caplog.text


def test_missing_table_names_the_table_and_the_fix(dynamodb_local: str) -> None:
    """Calling into a table that does not exist: TableNotFoundError with how to create it."""
    store = DynamoDBStore("no-such-table", client=make_client(dynamodb_local))
    handler = idempotent(key_of, store=store)(lambda event: None)

    with pytest.raises(TableNotFoundError) as caught:
        handler({"id": "k"})

    assert caught.value.table == "no-such-table"
    assert "create_table()" in str(caught.value)
    assert isinstance(caught.value.__cause__, ClientError)


def test_access_denied_lists_the_iam_actions() -> None:
    """AccessDeniedException becomes AccessDeniedError naming every action the role needs."""
    client = make_client("http://127.0.0.1:9")
    store = DynamoDBStore("locks", client=client)
    handler = idempotent(key_of, store=store)(lambda event: None)

    with Stubber(client) as stub:
        stub.add_client_error("update_item", "AccessDeniedException", "not authorized")
        with pytest.raises(AccessDeniedError) as caught:
            handler({"id": "k"})

    assert caught.value.actions == RUNTIME_ACTIONS
    for action in RUNTIME_ACTIONS:
        assert action in str(caught.value)
    assert isinstance(caught.value.__cause__, ClientError)


def test_throttling_is_a_store_error_with_the_code() -> None:
    """Any other service error is a StoreError naming the operation, table, key and code."""
    client = make_client("http://127.0.0.1:9")
    store = DynamoDBStore("locks", client=client)
    handler = idempotent(key_of, store=store, namespace="ns")(lambda event: None)

    with Stubber(client) as stub:
        stub.add_client_error("update_item", "ProvisionedThroughputExceededException", "slow down")
        with pytest.raises(StoreError) as caught:
            handler({"id": "k"})

    message = str(caught.value)
    assert "ProvisionedThroughputExceededException" in message
    assert "'ns#k'" in message
    assert caught.value.key == "ns#k"


def test_unreachable_endpoint_is_a_store_error_with_the_cause() -> None:
    """A connection failure is a StoreError whose cause is botocore's own error."""
    unreachable = make_client("http://127.0.0.1:9", connect_timeout=1, retries={"max_attempts": 1})
    store = DynamoDBStore("locks", client=unreachable)
    handler = idempotent(key_of, store=store)(lambda event: None)

    with pytest.raises(StoreError) as caught:
        handler({"id": "k"})
    assert isinstance(caught.value.__cause__, EndpointConnectionError)


def test_default_store_comes_from_the_environment(
    dynamodb_local: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """store=None uses IDEMLOCK_TABLE, and the client honours AWS_ENDPOINT_URL_DYNAMODB."""
    table = fresh_table(dynamodb_local)
    for name, value in {
        "IDEMLOCK_TABLE": table.table_name,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)

    handler = idempotent(key_of, namespace="env")(lambda event: "via env")

    assert handler({"id": "k"}) == "via env"
    record = table.get("env#k")
    assert record is not None
    assert record.result == '"via env"'


def test_a_missing_table_name_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """store=None without IDEMLOCK_TABLE: ConfigurationError saying what to set, nothing run."""
    monkeypatch.delenv("IDEMLOCK_TABLE", raising=False)
    runs: list[object] = []
    handler = idempotent(key_of)(runs.append)

    with pytest.raises(ConfigurationError, match="IDEMLOCK_TABLE"):
        handler({"id": "k"})
    assert runs == []


def test_store_construction_is_lazy_and_imports_no_botocore() -> None:
    """Importing idemlock and making a store loads neither botocore nor a client."""
    code = (
        "import sys, idemlock; idemlock.DynamoDBStore('t');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"


def test_invalid_table_name_and_attribute_names_are_configuration_errors() -> None:
    """An empty table name or clashing attribute names fail at construction."""
    with pytest.raises(ConfigurationError):
        DynamoDBStore("")
    with pytest.raises(ConfigurationError, match="distinct"):
        AttributeNames(status="owner")
    with pytest.raises(ConfigurationError, match="non-empty"):
        AttributeNames(result="")


def test_attribute_names_are_a_read_only_value() -> None:
    """AttributeNames is a named tuple: keyword or positional construction, fields that refuse
    assignment, equality, hash, repr, pattern matching and pickling by its fields."""
    names = AttributeNames(key="pk", expires_at_s="ttl")
    assert names == AttributeNames("pk", expires_at_s="ttl")
    assert names != AttributeNames()
    assert hash(names) == hash(AttributeNames(key="pk", expires_at_s="ttl"))
    with pytest.raises(AttributeError):
        names.key = "id"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del names.status
    assert repr(AttributeNames()) == (
        "AttributeNames(key='id', status='status', owner='owner', fence='fence', "
        "attempts='attempts', claimed_at_ms='claimed_at_ms', "
        "lease_expires_at_ms='lease_expires_at_ms', expires_at_s='expires_at_s', "
        "completed_at_ms='completed_at_ms', result='result', fingerprint='fingerprint', "
        "outcome_unknown_at_ms='outcome_unknown_at_ms', steps='steps', "
        "released_at_ms='released_at_ms', sort_key=None)"
    )
    assert pickle.loads(pickle.dumps(names)) == names
    match names:
        case AttributeNames(key, status):
            assert (key, status) == ("pk", "status")
        case _:
            pytest.fail("AttributeNames matches positionally")


def test_its_client_reuses_the_models_boto3_has_loaded(
    dynamodb_local: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store's own client shares the service-model loader of boto3's default session (the
    expensive part of a first client, already paid by a handler that made a boto3 client), and
    still works against the table with its own session."""
    import boto3  # noqa: PLC0415

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    default = boto3.session.Session(region_name="us-east-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", default)
    table = fresh_table(dynamodb_local).table_name
    store = DynamoDBStore(table, endpoint_url=dynamodb_local, region_name="us-east-1")

    assert store.client._loader is default._session.get_component("data_loader")  # type: ignore[attr-defined]
    assert store.get("absent") is None


def test_a_foreign_item_is_a_store_error_naming_its_key(dynamodb_local: str) -> None:
    """An item that is not an idemlock record (another tool's, in the same table) is reported
    with its key as text, not as DynamoDB's typed value."""
    store = fresh_table(dynamodb_local)
    store.client.put_item(
        TableName=store.table_name, Item={"id": {"S": "charge#abc"}, "data": {"S": "x"}}
    )
    with pytest.raises(
        StoreError, match=r"item 'charge#abc' in table .* is not an idemlock record"
    ):
        store.get("charge#abc")


def test_an_error_that_is_not_botocore_s_propagates_as_it_was() -> None:
    """An exception from the client that is not botocore's reaches the caller unchanged and
    without a cause (a store never chains an exception to itself)."""

    class Broken:
        def get_item(self, **_: Any) -> Any:
            raise RuntimeError("not botocore")

    store = DynamoDBStore("t", client=Broken())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not botocore") as caught:
        store.get("k")
    assert caught.value.__cause__ is None


def test_its_own_client_skips_botocore_s_parameter_validation(
    dynamodb_local: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client a store makes itself sends its machine-built requests unvalidated (a tenth of
    a request's client CPU); ``config=`` can turn validation back on, and a client passed in is
    used exactly as it came."""
    from botocore.config import Config  # noqa: PLC0415

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    table = fresh_table(dynamodb_local).table_name
    own = DynamoDBStore(table, endpoint_url=dynamodb_local, region_name="us-east-1")
    validating = DynamoDBStore(
        table,
        endpoint_url=dynamodb_local,
        region_name="us-east-1",
        config=Config(parameter_validation=True),
    )
    passed = make_client(dynamodb_local)

    validated: list[str] = []
    check = ParamValidator.validate

    def counting(self: ParamValidator, params: Any, shape: Any) -> Any:
        validated.append(shape.name)
        return check(self, params, shape)

    monkeypatch.setattr(ParamValidator, "validate", counting)

    assert own.get("k") is None
    assert validated == []
    assert validating.get("k") is None
    assert validated == ["GetItemInput"]
    assert DynamoDBStore(table, client=passed).client is passed
    assert DynamoDBStore(table, client=passed).get("k") is None
    assert validated == ["GetItemInput", "GetItemInput"]
    # Unvalidated, the store's requests still work, and a request DynamoDB refuses is still a
    # typed error (here an empty key, which botocore's validation would have caught first).
    handler = idempotent(key_of, store=own)(lambda event: "done")
    assert handler({"id": "k"}) == "done"
    assert handler({"id": "k"}) == "done"
    with pytest.raises(StoreError):
        own.get("")


def test_the_store_s_requests_pass_botocore_s_validation(endpoint: str, clock: ManualClock) -> None:
    """Every request of the protocol (first claim, duplicate, takeover, complete, release,
    extend) is valid by botocore's model: the unvalidated own client sends nothing a validating
    client would refuse."""
    table = fresh_table(endpoint)
    client = make_client(endpoint)
    assert client.meta.config.parameter_validation is True
    store = DynamoDBStore(table.table_name, client=client)
    handler = idempotent(key_of, store=store, clock=clock, lease=5, fingerprint=lambda e: e)(
        lambda event: {"ok": event["id"]}
    )

    assert handler({"id": "a"}) == {"ok": "a"}
    assert handler({"id": "a"}) == {"ok": "a"}
    with pytest.raises(ValueError, match="b"):
        idempotent(key_of, store=store, clock=clock)(_raise)({"id": "b"})
    claim = _claim(store, "c", clock)
    assert store.claim(claim).acquired
    assert store.extend(
        "c",
        claim.owner,
        lease_expires_at_ms=claim.lease_expires_at_ms + 1,
        expires_at_s=claim.expires_at_s,
    )
    clock.advance(60)
    assert store.claim(_claim(store, "c", clock)).acquired  # a takeover


def test_a_first_claim_brings_no_attributes_back(endpoint: str, clock: ManualClock) -> None:
    """The claim asks for the old values of what it updates, not the whole new item: a new key
    (the usual first run) answers with nothing for botocore to parse, a takeover with the
    counters it advanced; either way the record returned is the one stored."""
    table = fresh_table(endpoint)
    client = make_client(endpoint)
    answers: list[dict[str, Any]] = []
    client.meta.events.register(
        "after-call.dynamodb.UpdateItem", lambda parsed, **_: answers.append(parsed)
    )
    store = DynamoDBStore(table.table_name, client=client)

    first = store.claim(_claim(store, "k", clock))
    assert first.acquired
    assert "Attributes" not in answers[-1]
    assert first.item == store.get("k")
    clock.advance(60)
    second = store.claim(_claim(store, "k", clock))
    assert second.acquired
    assert second.item is not None
    assert first.item is not None
    assert (second.item.fence, second.item.attempts) == (first.item.fence + 1, 2)
    assert second.item == store.get("k")


def _raise(event: dict[str, Any]) -> None:
    raise ValueError(event["id"])


def _claim(store: DynamoDBStore, key: str, clock: ManualClock) -> Claim:
    now_ms = int(clock() * 1000)
    return Claim(
        key=key,
        owner=uuid.uuid4().hex,
        now_ms=now_ms,
        fence_base=now_ms * 1000,
        lease_expires_at_ms=now_ms + 5_000,
        expires_at_s=now_ms // 1000 + 3600,
    )
