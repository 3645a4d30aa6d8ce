"""Session fixtures shared by ``tests/`` and ``examples/``: the real DynamoDB-protocol servers.

They live at the root so that one DynamoDB Local (a JVM) and one dynalite serve the whole run,
whichever folder a test is in. A server that cannot start fails the run in CI (``CI`` set) and
skips locally, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers import Server, ServerUnavailable, in_ci, start_dynalite, start_dynamodb_local

ROOT = Path(__file__).resolve().parent

# pytester: tests/test_contract.py runs the contract suite on deliberately broken stores.
pytest_plugins = ["pytester"]


def _server(request: pytest.FixtureRequest, start: Callable[[Path], Server]) -> Iterator[str]:
    try:
        server = start(ROOT)
    except ServerUnavailable as exc:
        if in_ci():
            pytest.fail(f"required test backend is unavailable in CI: {exc}")
        pytest.skip(f"backend unavailable locally: {exc}")
    request.addfinalizer(server.stop)
    yield server.endpoint_url


@pytest.fixture(scope="session")
def dynamodb_local(request: pytest.FixtureRequest) -> Iterator[str]:
    """The endpoint URL of a DynamoDB Local started for this session."""
    yield from _server(request, start_dynamodb_local)


@pytest.fixture(scope="session")
def dynalite(request: pytest.FixtureRequest) -> Iterator[str]:
    """The endpoint URL of a dynalite started for this session."""
    yield from _server(request, start_dynalite)
