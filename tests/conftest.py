"""Backends for the test session, chosen from one fixture.

``backend`` is parametrised over every store the contract suite must hold on:

- ``memory``: :class:`idemlock.testing.MemoryStore`;
- ``dynamodb-local``: Amazon's DynamoDB Local (supports ``ReturnValuesOnConditionCheckFailure``);
- ``dynalite``: an independent implementation that ignores it, exercising the GetItem fallback.

The servers themselves (``dynamodb_local``, ``dynalite``) are session fixtures of the root
``conftest.py``, shared with ``examples/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from idemlock import DynamoDBStore, LockStore
from idemlock.testing import ManualClock, MemoryStore
from tests.cli_helpers import Run, command_env
from tests.round_trips import RoundTrips

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
BACKENDS = ("memory", "dynamodb-local", "dynalite")


def make_client(endpoint_url: str, **config: Any) -> Any:
    """A botocore DynamoDB client for a local endpoint, with dummy credentials."""
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(**{"retries": {"mode": "standard", "max_attempts": 4}, **config}),
    )


def use_local_aws(monkeypatch: pytest.MonkeyPatch, endpoint_url: str) -> None:
    """Point the AWS environment a deployed handler reads at a local DynamoDB endpoint.

    Dummy credentials and the region, as Lambda would set them; the developer's own AWS
    configuration (profile, config and credentials files) is hidden, so a test never reaches a
    real account.
    """
    for name, value in {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint_url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def create_app_table(client: Any, prefix: str, key: str) -> str:
    """A fresh on-demand table with a string partition key ``key``, as an app's template has it."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
    )
    return name


def fresh_table(endpoint_url: str, **store_options: Any) -> DynamoDBStore:
    """A new, empty lock table on ``endpoint_url``, through a store with its own client."""
    store = DynamoDBStore(
        f"locks-{uuid.uuid4().hex[:12]}", client=make_client(endpoint_url), **store_options
    )
    store.create_table()
    return store


@dataclass
class Backend:
    """A store under test and a way to count its round trips."""

    name: str
    store: LockStore
    count: Callable[[], int]
    reset: Callable[[], None]

    @property
    def returns_old_item(self) -> bool:
        """Whether a failed conditional write returns the item (ALL_OLD): not on dynalite."""
        return self.name != "dynalite"


@pytest.fixture(scope="session")
def _tables(request: pytest.FixtureRequest) -> dict[str, DynamoDBStore]:
    """One lock table per server for the whole session; tests use fresh namespaces."""
    return {}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, _tables: dict[str, DynamoDBStore]) -> Iterator[Backend]:
    """Each store of the contract suite in turn, with a round-trip counter at zero."""
    name: str = request.param
    if name == "memory":
        memory = MemoryStore()
        yield Backend(name, memory, memory.calls.total, memory.calls.clear)
        return
    if name not in _tables:
        endpoint = request.getfixturevalue(
            "dynamodb_local" if name == "dynamodb-local" else "dynalite"
        )
        _tables[name] = fresh_table(endpoint)
    store = _tables[name]
    with RoundTrips().counting(store.client) as trips:
        yield Backend(name, store, lambda: trips.count, trips.reset)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock(start=1_800_000_000.0)


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses, so tests share tables without sharing keys."""
    return f"test-{uuid.uuid4().hex[:12]}"


# -- the idemlock command ------------------------------------------------------------------------


@pytest.fixture
def store(dynamodb_local: str) -> DynamoDBStore:
    """A fresh lock table on DynamoDB Local, for the command's tests."""
    return fresh_table(dynamodb_local)


@pytest.fixture
def idemlock(dynamodb_local: str, store: DynamoDBStore) -> Run:
    """Run ``python -m idemlock ARGS`` on the fresh table through the environment."""

    def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "idemlock", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=command_env(
                **{
                    "IDEMLOCK_TABLE": store.table_name,
                    "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local,
                    **env,  # a test may override these
                }
            ),
        )

    return run
