"""Local AWS endpoints for tests and examples: clients, environment and tables.

Examples import these helpers from here (never from a conftest): a client for a local DynamoDB
endpoint, the environment a deployed handler reads pointed at one, and fresh tables.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from idemlock import DynamoDBStore

if TYPE_CHECKING:  # only an annotation: the benchmarks import this module without pytest
    import pytest

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


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


def local_aws_environment(endpoint_url: str) -> dict[str, str]:
    """The AWS environment variables that point a process at a local DynamoDB endpoint.

    Dummy credentials and the region, as Lambda would set them; the developer's own AWS
    configuration (config and credentials files) is hidden, so a test never reaches a real
    account.
    """
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint_url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def use_local_aws(monkeypatch: pytest.MonkeyPatch, endpoint_url: str) -> None:
    """Point this process's AWS environment at a local DynamoDB endpoint
    (:func:`local_aws_environment`), with no profile selected."""
    for name, value in local_aws_environment(endpoint_url).items():
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


def take_over(store: DynamoDBStore, key: str) -> None:
    """Another invocation's owner token on ``key``, as after a takeover (or an operator)."""
    store.client.update_item(
        TableName=store.table_name,
        Key={store.attributes.key: {"S": key}},
        UpdateExpression="SET #owner = :other",
        ExpressionAttributeNames={"#owner": store.attributes.owner},
        ExpressionAttributeValues={":other": {"S": "someone-else"}},
    )
