"""Fixtures of the test session: a clock, a namespace, a lock table and the idemlock command.

Which stores the contract runs on is chosen in one place, ``tests/test_contract.py``; the servers
themselves (``dynamodb_local``, ``dynalite``) are session fixtures of the root ``conftest.py``,
shared with ``examples/``; clients and tables for local endpoints come from ``tests/aws.py``.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from idemlock import DynamoDBStore
from idemlock.testing import ManualClock
from tests.aws import fresh_table
from tests.cli_helpers import Run, command_env


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
