"""``idemlock create-table``: the table made and waited for, or an existing one accepted."""

from __future__ import annotations

import uuid

from tests.aws import make_client
from tests.cli_helpers import Run, as_json


def test_create_table_creates_waits_and_accepts_a_matching_table(
    dynamodb_local: str, idemlock: Run
) -> None:
    """create-table NAME makes an on-demand table with TTL; again, it says it exists (exit 0)."""
    name = f"ops-{uuid.uuid4().hex[:8]}"

    assert as_json(idemlock("create-table", name, "--output", "json")) == {
        "table": name,
        "created": True,
        "ttl_turned_on": False,
    }
    again = idemlock("create-table", name)
    assert again.returncode == 0
    assert "already exists" in again.stdout
    client = make_client(dynamodb_local)
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at_s"}


def test_create_table_refuses_a_mismatching_table(dynamodb_local: str, idemlock: Run) -> None:
    """An existing table with another key schema: exit 1 and one line naming the problem."""
    name = f"other-{uuid.uuid4().hex[:8]}"
    make_client(dynamodb_local).create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    done = idemlock("create-table", name)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "key schema" in done.stderr


def test_create_table_says_when_it_turned_ttl_on(dynamodb_local: str, idemlock: Run) -> None:
    """An existing table with the right key but TTL off: create-table turns TTL on and says
    it changed that (in JSON too); run again, it has nothing more to change."""
    name = f"no-ttl-{uuid.uuid4().hex[:8]}"
    client = make_client(dynamodb_local)
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )

    done = idemlock("create-table", name)

    assert done.returncode == 0, done.stderr
    assert "turned TTL on 'expires_at_s' (it was off" in done.stdout
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at_s"}
    assert as_json(idemlock("create-table", name, "--output", "json")) == {
        "table": name,
        "created": False,
        "ttl_turned_on": False,
    }
