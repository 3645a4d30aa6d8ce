"""The test servers start whatever the environment of the test that first asks for one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.aws import make_client
from tests.servers import start_dynalite

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.servers  # starts its own dynalite
def test_a_server_starts_under_a_test_id_too_long_for_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pytest keeps the running test's id in PYTEST_CURRENT_TEST; a generated parameter can make
    it longer than one environment string may be (128 KiB). Under pytest-xdist such a test can
    be the first of its worker to ask for a server: the server starts all the same."""
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/test_contract.py::test[" + "x" * 200_000 + "]")

    server = start_dynalite(ROOT)
    try:
        client = make_client(server.endpoint_url)
        assert client.list_tables()["TableNames"] == []
    finally:
        server.stop()
