"""``idemlock local``: an endpoint with the lock table, and the lines that point a shell at it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest

from idemlock import DynamoDBStore, idempotent
from tests.aws import make_client
from tests.cli_helpers import command_env
from tests.servers import free_port


def _exports(text: str) -> dict[str, str]:
    """The variables of the ``export A=1 B=2`` lines of ``text``."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export "):
            found.update(re.findall(r"(\w+)=(\S+)", line))
    return found


def test_local_serves_the_table_until_interrupted() -> None:
    """`idemlock local` starts an endpoint in the foreground, creates the table, and prints
    export lines; in a shell with them set, the command and @idempotent work; Ctrl-C (SIGINT)
    stops it with exit 0."""
    port = free_port()
    command = [sys.executable, "-X", "faulthandler", "-m", "idemlock", "local"]
    # -X faulthandler: a server that does not stop dumps every thread's stack on SIGABRT. Started
    # with SIGINT ignored, as a background job inherits it (CI runners, `nohup`, `&`) and Python
    # keeps it: the command must still stop on it. (SIG_IGN survives the exec.)
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "os.execv(sys.argv[1], sys.argv[1:])",
            *command,
            *("--port", str(port), "--table", "dev-locks"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(),
    )
    try:
        assert server.stdout is not None
        printed = ""
        while "Ctrl-C" not in printed:  # blocks until the server has said it is ready
            line = server.stdout.readline()
            assert line, f"idemlock local ended early: {server.communicate(timeout=60)}"
            printed += line
        exports = _exports(printed)
        assert exports["AWS_ENDPOINT_URL_DYNAMODB"] == f"http://127.0.0.1:{port}"
        assert exports["IDEMLOCK_TABLE"] == "dev-locks"
        assert {"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= exports.keys()

        shell = {**command_env(), **exports}
        ls = subprocess.run(
            [sys.executable, "-m", "idemlock", "ls", "--output", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=shell,
        )
        assert (ls.returncode, ls.stdout.strip()) == (0, "[]"), ls.stderr
        client = make_client(exports["AWS_ENDPOINT_URL_DYNAMODB"])
        store = DynamoDBStore("dev-locks", client=client)
        runs: list[str] = []
        once = idempotent(lambda key: key, store=store, namespace="dev")(runs.append)
        once("a")
        once("a")
        assert runs == ["a"]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, err = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            # Not left running into the next test: where it hung goes into the failure.
            server.send_signal(signal.SIGABRT)
            _, err = server.communicate(timeout=30)
            pytest.fail(f"idemlock local did not stop on SIGINT within 60 s; its threads:\n{err}")
    assert server.returncode == 0, err
    assert "Traceback" not in err


def test_a_port_in_use_is_one_line() -> None:
    """A taken port: exit 1 and one line saying how to pick another."""
    import socket  # noqa: PLC0415

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "idemlock", "local", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=command_env(),
        )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "--port" in done.stderr


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_a_port_out_of_range_is_a_usage_error(port: str) -> None:
    """`idemlock local --port 99999`: exit 2 naming the range, not a bug to report."""
    done = subprocess.run(
        [sys.executable, "-m", "idemlock", "local", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=command_env(),
    )

    assert done.returncode == 2, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("idemlock local: error: argument --port: ")
    assert "report" not in done.stderr
