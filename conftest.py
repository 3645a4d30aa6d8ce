"""Session fixtures shared by ``tests/`` and ``examples/``: servers, and a wheel of the checkout.

The real DynamoDB-protocol servers, moto's server for S3, and a wheel of this checkout for the
packaging tests (built once: pip builds it in an isolated environment). They live at the root so
that one DynamoDB Local (a JVM) and one dynalite serve the whole run, whichever folder a test is
in. A server that cannot start fails the run in CI (``CI`` set) and skips locally, with the reason.
"""

from __future__ import annotations

import logging
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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Moto's server on a free port of 127.0.0.1, for S3: DynamoDB Local has no S3.

    A real HTTP endpoint, so boto3's S3 client runs its whole code path (signing, XML parsing,
    streamed bodies) as it does in Lambda, in this process or in a handler's own interpreter.
    """
    from moto.server import ThreadedMotoServer  # noqa: PLC0415  (only the S3 tests need moto)

    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # else one INFO line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        werkzeug.setLevel(level)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, built once for the session."""
    from tools.lambda_packaging import build_wheel  # noqa: PLC0415  (only packaging tests)

    return build_wheel(tmp_path_factory.mktemp("wheel"))
