"""``idemlock doctor``: each check, ok and not, against DynamoDB Local (through a proxy that
answers as IAM or a skewed clock would, where DynamoDB Local cannot)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from idemlock import DynamoDBStore
from idemlock.dynamodb import BATCH_ACTIONS, RUNTIME_ACTIONS
from tests.aws import make_client
from tests.cli_helpers import (
    POWERTOOLS_KEY,
    Run,
    as_json,
    put_powertools_item,
    put_unreadable_results,
)
from tests.dynamodb_proxy import DynamoDBProxy


def checks(done: Any) -> dict[str, dict[str, Any]]:
    """The JSON report's checks, by name."""
    return {check["name"]: check for check in as_json_any(done)["checks"]}


def as_json_any(done: Any) -> Any:
    """The JSON report, whatever the exit code (doctor exits 1 when a check fails)."""
    import json  # noqa: PLC0415

    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_a_healthy_table_passes(store: DynamoDBStore, idemlock: Run) -> None:
    """A table made by create-table on DynamoDB Local: every check ok except point-in-time
    recovery, which DynamoDB Local does not have (a warning); exit 0."""
    done = idemlock("doctor", "--output", "json")

    report = as_json(done)
    assert report["ok"] is True
    results = {check["name"]: check["result"] for check in report["checks"]}
    assert results == {
        "key schema": "ok",
        "TTL": "ok",
        "billing mode": "ok",
        "permissions": "ok",
        "clock skew": "ok",
        "point-in-time recovery": "warn",
        "foreign items": "ok",
    }

    table = idemlock("doctor")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[-1].startswith("every check passed")


def test_a_table_without_ttl_fails_naming_the_fix(dynamodb_local: str, idemlock: Run) -> None:
    """No TTL: the TTL check fails with the update-time-to-live command; exit 1."""
    name = f"nottl-{uuid.uuid4().hex[:8]}"
    make_client(dynamodb_local).create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )

    done = idemlock("doctor", "--table", name, "--output", "json")

    assert done.returncode == 1
    ttl = checks(done)["TTL"]
    assert ttl["result"] == "fail"
    assert "aws dynamodb update-time-to-live" in ttl["fix"]
    assert f"--table-name {name}" in ttl["fix"]
    assert "AttributeName=expires_at_s" in ttl["fix"]
    table = idemlock("doctor", "--table", name)
    assert table.returncode == 1
    assert any(line.startswith("fail  TTL") for line in table.stdout.splitlines())
    assert "fix: aws dynamodb update-time-to-live" in table.stdout


def test_ttl_on_another_attribute_fails(dynamodb_local: str, idemlock: Run) -> None:
    """TTL on an attribute idemlock does not write expires nothing: a fail naming both."""
    name = f"ttl-{uuid.uuid4().hex[:8]}"
    client = make_client(dynamodb_local)
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )

    ttl = checks(idemlock("doctor", "--table", name, "--output", "json"))["TTL"]

    assert ttl["result"] == "fail"
    assert "'expiration'" in ttl["detail"]
    assert "'expires_at_s'" in ttl["detail"]


def test_provisioned_billing_is_a_warning(dynamodb_local: str, idemlock: Run) -> None:
    """A provisioned table works, with a warning about throttled redeliveries."""
    name = f"prov-{uuid.uuid4().hex[:8]}"
    make_client(dynamodb_local).create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )
    DynamoDBStore(name, client=make_client(dynamodb_local)).create_table()  # TTL on

    done = idemlock("doctor", "--table", name, "--output", "json")

    assert done.returncode == 0
    billing = checks(done)["billing mode"]
    assert billing["result"] == "warn"
    assert "PAY_PER_REQUEST" in billing["fix"]


def test_a_missing_table_fails_with_create_table(idemlock: Run) -> None:
    """No such table: one failed check saying how to create it; exit 1."""
    done = idemlock("doctor", "--table", "no-such-table", "--output", "json")

    report = as_json_any(done)
    assert done.returncode == 1
    assert [(c["name"], c["result"]) for c in report["checks"]] == [("key schema", "fail")]
    assert report["checks"][0]["fix"] == "idemlock create-table no-such-table"


def test_foreign_items_are_a_warning(store: DynamoDBStore, idemlock: Run) -> None:
    """A sampled Powertools item is reported, with its key and status."""
    put_powertools_item(store)

    foreign = checks(idemlock("doctor", "--output", "json"))["foreign items"]

    assert foreign["result"] == "warn"
    assert POWERTOOLS_KEY in foreign["detail"]
    assert "INPROGRESS" in foreign["detail"]


def test_items_with_unreadable_results_are_a_warning_not_foreign(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """idemlock's own items whose result cannot be read back: a warning that says so (not
    "not written by idemlock"), with how to look and how to remove one."""
    put_unreadable_results(store)

    found = checks(idemlock("doctor", "--output", "json"))["foreign items"]

    assert found["result"] == "warn"
    assert "none among 3 sampled items; 3 with an unreadable result" in found["detail"]
    assert "release KEY --force" in found["fix"]


def test_permissions_are_probed_per_action(
    dynamodb_local: str, store: DynamoDBStore, idemlock: Run
) -> None:
    """Actions IAM refuses are named, each with who needs it; the probes write nothing."""
    with DynamoDBProxy(dynamodb_local, deny={"dynamodb:UpdateItem", "dynamodb:Scan"}) as proxy:
        done = idemlock("doctor", "--output", "json", AWS_ENDPOINT_URL_DYNAMODB=proxy.endpoint_url)

    report = checks(done)
    permissions = report["permissions"]
    assert permissions["result"] == "warn"
    assert "cannot UpdateItem, Scan" in permissions["detail"]
    assert "@idempotent" in permissions["detail"]
    assert report["foreign items"]["result"] == "warn"
    assert "Scan" in report["foreign items"]["detail"]
    assert list(store.scan_items()) == []


BATCH_USES = {
    "dynamodb:PartiQLInsert": "batch claims",
    "dynamodb:PartiQLUpdate": "batch completes",
    "dynamodb:PartiQLDelete": "batch releases",
    "dynamodb:BatchGetItem": "reading the keys a batch claim found held",
}


def test_a_caller_with_every_action_can_write_batches(store: DynamoDBStore, idemlock: Run) -> None:
    """On DynamoDB Local every action is allowed: the permissions check is ok and names the batch
    actions among those probed; the probes (a transaction among them) write nothing."""
    permissions = checks(idemlock("doctor", "--output", "json"))["permissions"]

    assert permissions["result"] == "ok"
    for action in (*RUNTIME_ACTIONS, *BATCH_ACTIONS):
        assert action.partition(":")[2] in permissions["detail"]
    assert list(store.scan_items()) == []


def test_a_caller_without_the_batch_actions_is_warned_batches_go_one_by_one(
    dynamodb_local: str, store: DynamoDBStore, idemlock: Run
) -> None:
    """A role with the single-request actions only (the policy idemlock wrote before batches):
    a warning, not a failure (batches still work, one request per record), naming each batch
    action and what it is for (the INSERT's probe needs PartiQLUpdate, so it is named as not
    probed rather than guessed); exit 0; nothing written."""
    with DynamoDBProxy(dynamodb_local, deny=BATCH_ACTIONS) as proxy:
        done = idemlock("doctor", "--output", "json", AWS_ENDPOINT_URL_DYNAMODB=proxy.endpoint_url)

    assert done.returncode == 0, done.stderr
    permissions = checks(done)["permissions"]
    assert permissions["result"] == "warn"
    assert "cannot PartiQLUpdate, PartiQLDelete, BatchGetItem (probed" in permissions["detail"]
    assert "PartiQLInsert was not probed (its probe needs PartiQLUpdate)" in permissions["detail"]
    for action, use in BATCH_USES.items():
        assert f"{action.partition(':')[2]} by {use}" in permissions["detail"]
    assert "one request per record" in permissions["detail"]
    assert "idemlock template" in permissions["fix"]
    assert list(store.scan_items()) == []


@pytest.mark.parametrize("action", BATCH_ACTIONS)
def test_each_batch_action_is_probed_on_its_own(
    dynamodb_local: str, store: DynamoDBStore, idemlock: Run, action: str
) -> None:
    """A policy that forgot one batch action: that one, and only that one, is named."""
    with DynamoDBProxy(dynamodb_local, deny={action}) as proxy:
        done = idemlock("doctor", "--output", "json", AWS_ENDPOINT_URL_DYNAMODB=proxy.endpoint_url)

    permissions = checks(done)["permissions"]
    assert permissions["result"] == "warn"
    assert f"cannot {action.partition(':')[2]} (probed" in permissions["detail"]
    assert list(store.scan_items()) == []


def test_an_insert_is_not_probed_without_partiql_update(
    dynamodb_local: str, store: DynamoDBStore, idemlock: Run
) -> None:
    """The INSERT probe is a transaction whose UPDATE cannot succeed (so nothing is written):
    a caller refused the UPDATE cannot be probed for the INSERT, and the report says so rather
    than guess."""
    deny = {"dynamodb:PartiQLUpdate"}
    with DynamoDBProxy(dynamodb_local, deny=deny) as proxy:
        done = idemlock("doctor", "--output", "json", AWS_ENDPOINT_URL_DYNAMODB=proxy.endpoint_url)

    detail = checks(done)["permissions"]["detail"]
    assert "cannot PartiQLUpdate (probed" in detail
    assert "PartiQLInsert was not probed" in detail
    assert "PartiQLInsert by batch claims" in detail
    assert list(store.scan_items()) == []


def test_an_endpoint_without_partiql_is_a_warning_not_a_denial(
    dynalite: str, idemlock: Run
) -> None:
    """dynalite has no BatchExecuteStatement or ExecuteTransaction: the permissions check says
    the endpoint does not know the PartiQL actions (batches go one request per record there),
    not that the caller may not, and has no policy to fix."""
    name = f"nopartiql-{uuid.uuid4().hex[:8]}"
    DynamoDBStore(name, client=make_client(dynalite)).create_table()

    done = idemlock(
        "doctor", "--table", name, "--output", "json", AWS_ENDPOINT_URL_DYNAMODB=dynalite
    )

    permissions = checks(done)["permissions"]
    assert permissions["result"] == "warn"
    assert (
        "this endpoint does not know PartiQLInsert, PartiQLUpdate, PartiQLDelete"
        in (permissions["detail"])
    )
    assert "cannot" not in permissions["detail"]
    assert permissions["fix"] is None


@pytest.mark.parametrize(("offset_s", "result"), [(120, "fail"), (-120, "fail"), (0, "ok")])
def test_clock_skew_is_measured_from_the_date_header(
    dynamodb_local: str, idemlock: Run, offset_s: float, result: str
) -> None:
    """DynamoDB's Date header two minutes away from this machine's clock fails the clock
    check (whichever way), with the fix; the same clock passes."""
    with DynamoDBProxy(dynamodb_local, clock_offset_s=offset_s) as proxy:
        done = idemlock("doctor", "--output", "json", AWS_ENDPOINT_URL_DYNAMODB=proxy.endpoint_url)

    clock = checks(done)["clock skew"]
    assert clock["result"] == result, clock
    assert done.returncode == (1 if result == "fail" else 0)
    if result == "fail":
        assert ("behind" if offset_s > 0 else "ahead of") in clock["detail"]
        assert "NTP" in clock["fix"]
