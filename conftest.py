"""Session fixtures shared by ``tests/`` and ``examples/``: servers, and a wheel of the checkout.

The real DynamoDB-protocol servers, moto's server for S3, and a wheel of this checkout for the
packaging tests (built once: pip builds it in an isolated environment). They live at the root so
that one DynamoDB Local (a JVM) and one dynalite serve the whole session, whichever folder a test
is in. Under pytest-xdist (``-n auto``) each worker is a session of its own, so each worker starts
its own servers, on free ports: tests on different workers never share a server or a table. A
server that cannot start fails the run in CI (``CI`` set) and skips locally, with the reason.
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

SERVER_FIXTURES = frozenset({"dynamodb_local", "dynalite", "s3_endpoint"})
"""The fixtures below that start a server process: the tests using them are marked ``servers``."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--no-servers``: the run that needs neither Java nor Node.js (CI's run on each Python)."""
    parser.addoption(
        "--no-servers",
        action="store_true",
        help="leave out the tests marked servers; a test that starts a server anyway fails, for "
        "want of its mark",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``servers`` each test that needs a server fixture; leave those out on --no-servers.

    A fixture's own fixtures count (``store`` needs ``dynamodb_local``). A server reached through
    ``request.getfixturevalue`` cannot be seen here: such a test carries the mark itself, and
    ``_server`` fails a --no-servers run that reaches a server without it.
    """
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
    if config.getoption("no_servers"):
        left_out = [item for item in items if item.get_closest_marker("servers")]
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("servers")]


def _server(request: pytest.FixtureRequest, start: Callable[[Path], Server]) -> Iterator[str]:
    if request.config.getoption("no_servers"):
        pytest.fail(
            f"{request.fixturename} was asked for in a --no-servers run: mark the test "
            "`pytest.mark.servers` (it reaches the server through request.getfixturevalue)"
        )
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
