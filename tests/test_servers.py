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


def test_no_servers_leaves_out_what_needs_a_server_and_fails_a_test_missing_its_mark(
    pytester: pytest.Pytester,
) -> None:
    """--no-servers deselects the tests that need a server, whether through their fixtures or
    their mark; one that reaches a server through getfixturevalue without the mark fails,
    naming the mark, instead of starting the server that run means to do without."""
    pytester.makepyfile(
        """
        import pytest

        def test_static(dynamodb_local):
            pass

        @pytest.mark.servers
        def test_marked(request):
            request.getfixturevalue("dynalite")

        def test_unmarked(request):
            request.getfixturevalue("dynalite")

        def test_plain():
            pass
        """
    )

    # The checkout's root conftest.py (imported as `conftest`) as the plugin of the inner run.
    result = pytester.runpytest_inprocess(
        "-p", "conftest", "--no-servers", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=1, failed=1, deselected=2)
    result.stdout.fnmatch_lines(["*dynalite was asked for in a --no-servers run*servers*"])
