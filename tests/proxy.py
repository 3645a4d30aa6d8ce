"""A small threaded TCP proxy that injects faults and latency between client and server.

Why: idemlock's hardest cases are about the network, not the database.  A
``PutItem`` whose response is lost after DynamoDB applied it makes botocore
retry a write that already happened, and the retry then fails its condition
check against our own record; idemlock must recognise its own owner token and
not report a conflict.  A connection reset before the request reaches the
server must be retried without side effects.  Slow round trips stretch the
window in which two invocations race for the same key.  None of that can be
produced reliably by mocking botocore, because the interesting part is what
botocore itself does on a broken connection, so the suite puts this proxy
between a real botocore client and a real server (see ``tests/servers.py``)
and breaks the bytes in between.

The proxy understands just enough of the traffic to do that: it assumes
HTTP/1.1 with at most one request in flight per connection, which is how
botocore uses a pooled connection.  On each connection, the first client bytes
after a response (or after connecting) start a *request*, and the first server
bytes after a request start its *response*.  Either side closing its end closes
the whole pair, which is all an HTTP client needs.

Everything runs on daemon threads, one accept loop plus two pumps per
connection.  Every socket is closed explicitly, because the suite runs with
``filterwarnings = error`` and a socket left to the garbage collector raises a
``ResourceWarning``; ``OSError`` from a socket closed under a pump is the normal
way a pump ends and is never reported.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType

__all__ = ["TcpProxy"]

HOST = "127.0.0.1"
_BUFFER_SIZE = 65536
_ACCEPT_POLL_S = 0.1
"""The accept loop wakes this often to notice :meth:`TcpProxy.stop`.

Closing a listening socket does not reliably wake a thread blocked in
``accept()`` on every platform, so the loop polls instead of relying on it.
"""
_UPSTREAM_CONNECT_TIMEOUT_S = 5.0
_JOIN_TIMEOUT_S = 2.0
"""How long :meth:`TcpProxy.stop` waits, in total, for its threads to finish."""

_LINGER_ZERO = struct.pack("ii", 1, 0)
"""``SO_LINGER`` on with a zero timeout: ``close()`` sends RST instead of FIN."""


class _Link:
    """One accepted client connection and the upstream connection made for it.

    Two pumps use a link, one per direction.  Closing is split so that no
    socket is closed while the other pump may still be blocked on it:
    :meth:`shut` only shuts the sockets down, which wakes any blocked ``recv``
    or ``sendall``; the sockets are closed by :meth:`pump_finished` once both
    pumps have returned, or by :meth:`close` as a last resort in ``stop()``.
    """

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        # True from the first byte of a request until the first byte of its response.
        # Each flag is written by one pump only; the GIL makes a bool store atomic.
        self.awaiting_response = False
        self._lock = threading.Lock()
        self._closed = False
        self._pumps_running = 2

    def shut(self) -> None:
        """Wake both pumps by shutting both sockets down; idempotent."""
        with self._lock:
            if self._closed:
                return
            for sock in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def reset_client(self) -> None:
        """Abort the client connection with RST, then wake the other pump.

        Called from the pump that reads the client, so closing the client
        socket cannot pull it from under a blocked ``recv``; the other pump
        is blocked on the upstream socket, which is only shut down here.
        """
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(OSError):
                self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
            self.client.close()
            with contextlib.suppress(OSError):
                self.upstream.shutdown(socket.SHUT_RDWR)

    def pump_finished(self) -> bool:
        """Record that one pump returned; close both sockets after the second.

        Returns:
            True when this call closed the link.
        """
        with self._lock:
            self._pumps_running -= 1
            if self._pumps_running > 0 or self._closed:
                return False
            self._close_locked()
            return True

    def close(self) -> None:
        """Close both sockets now, whatever the pumps are doing; idempotent."""
        with self._lock:
            if not self._closed:
                self._close_locked()

    def _close_locked(self) -> None:
        self._closed = True
        # socket.close() never raises for an already-closed socket.
        self.client.close()
        self.upstream.close()


class TcpProxy:
    """Forward TCP connections from 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``.

    Faults are armed from the test thread and consumed by the proxy threads:
    :meth:`drop_next_responses` loses responses after the server has acted on
    the request, :meth:`reset_next_connections` kills requests before the
    server sees them, and :attr:`latency` delays every chunk in both
    directions.  Counters (:attr:`connections`, :attr:`dropped`,
    :attr:`resets`) let a test assert that the fault it armed really happened,
    so a test cannot pass merely because the fault never fired.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with TcpProxy(server_port) as proxy:
            client = make_client(proxy.endpoint_url)
            proxy.drop_next_responses(1)
            ...
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.latency: float = 0.0
        """Seconds added before forwarding each chunk, each way; settable at any time."""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._port: int | None = None
        self._threads: list[threading.Thread] = []
        self._links: set[_Link] = set()
        self._connections = 0
        self._dropped = 0
        self._resets = 0
        self._drops_armed = 0
        self._resets_armed = 0
        self._errors_armed: list[str] = []
        self._errors_sent = 0

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Bind a free port on 127.0.0.1 and start accepting connections.

        Raises:
            RuntimeError: The proxy was already started (a proxy runs once).
        """
        if self._listener is not None or self._stopping.is_set():
            raise RuntimeError("TcpProxy.start() called twice; create a new proxy instead")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((HOST, 0))
            listener.listen(64)
            listener.settimeout(_ACCEPT_POLL_S)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._accept_thread = self._spawn(
            self._accept_loop, listener, name=f"TcpProxy-accept-{self._port}"
        )

    def stop(self) -> None:
        """Stop accepting, close every socket, and briefly join the threads.

        Safe to call more than once, and before :meth:`start`.  Threads that
        have not finished within about two seconds are left to die with the
        process (they are daemons); their sockets are closed regardless.
        """
        self._stopping.set()
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        current = threading.current_thread()
        # Join the accept loop first, so that every connection thread it will
        # ever start is in the snapshot below.
        accept_thread = self._accept_thread
        if accept_thread is not None and accept_thread is not current:
            accept_thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            links = list(self._links)
            threads = list(self._threads)
        for link in links:
            link.shut()
        for thread in threads:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            links = list(self._links)
            self._links.clear()
            self._threads = [thread for thread in self._threads if thread.is_alive()]
        for link in links:
            link.close()
        if self._listener is not None:
            # The accept loop closes it too; closing twice is harmless.
            self._listener.close()

    def __enter__(self) -> TcpProxy:
        if self._listener is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addressing ----------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the proxy listens on.

        Raises:
            RuntimeError: The proxy has not been started.
        """
        if self._port is None:
            raise RuntimeError("TcpProxy has no port until start() is called")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """The URL to give botocore as ``endpoint_url``."""
        return f"http://{HOST}:{self.port}"

    # -- faults --------------------------------------------------------------

    def drop_next_responses(self, n: int = 1) -> None:
        """Lose the next ``n`` responses after the server has processed their requests.

        The first bytes of each such response are discarded and both the
        client and the upstream connection are closed, so the client sees its
        connection closed with no response although the server already applied
        the request: exactly the lost-response case that makes botocore retry a
        write that succeeded.  Calls add up: two calls with ``n=1`` drop two.

        Raises:
            ValueError: ``n`` is negative.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        with self._lock:
            self._drops_armed += n

    def reset_next_connections(self, n: int = 1) -> None:
        """Abort the connections carrying the next ``n`` requests, before forwarding.

        The client connection is closed with ``SO_LINGER`` 0, so the client
        gets a TCP RST, and the request is never sent upstream: the server
        never sees it.  Calls add up like :meth:`drop_next_responses`.

        Raises:
            ValueError: ``n`` is negative.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        with self._lock:
            self._resets_armed += n

    def fail_next_requests(self, n: int = 1, error: str = "ThrottlingException") -> None:
        """Answer the next ``n`` requests with DynamoDB's HTTP 400 ``error``, not forwarding them.

        The server never sees them; botocore sees the error DynamoDB would send (throttling
        errors are retried with backoff by botocore's standard retry mode).
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        with self._lock:
            self._errors_armed.extend([error] * n)

    @property
    def errors_sent(self) -> int:
        """Requests answered with an injected error so far."""
        with self._lock:
            return self._errors_sent

    def clear_faults(self) -> None:
        """Disarm any drops and resets that have not fired yet, and zero the latency."""
        with self._lock:
            self._drops_armed = 0
            self._resets_armed = 0
            self._errors_armed.clear()
        self.latency = 0.0

    # -- counters ------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Client connections accepted so far."""
        with self._lock:
            return self._connections

    @property
    def dropped(self) -> int:
        """Responses actually dropped so far by :meth:`drop_next_responses`."""
        with self._lock:
            return self._dropped

    @property
    def resets(self) -> int:
        """Requests actually reset so far by :meth:`reset_next_connections`."""
        with self._lock:
            return self._resets

    # -- threads -------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: object, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def _accept_loop(self, listener: socket.socket) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stopping.is_set():
                        break
                    # E.g. EMFILE: back off instead of spinning, then try again.
                    self._stopping.wait(_ACCEPT_POLL_S)
                    continue
                with self._lock:
                    self._connections += 1
                try:
                    self._spawn(
                        self._serve,
                        client,
                        name=f"TcpProxy-{self._port}-conn-{self.connections}",
                    )
                except BaseException:
                    client.close()
                    raise
        finally:
            listener.close()

    def _serve(self, client: socket.socket) -> None:
        """Connect upstream for one client, then pump both directions."""
        try:
            client.settimeout(None)
            upstream = socket.create_connection(
                (HOST, self.upstream_port), timeout=_UPSTREAM_CONNECT_TIMEOUT_S
            )
        except OSError:
            # Upstream is down: fail the client fast rather than leave it hanging.
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
            client.close()
            return
        link = _Link(client, upstream)
        try:
            upstream.settimeout(None)
            for sock in (client, upstream):
                # Requests are small: without this, Nagle's algorithm adds delays
                # that would blur the latency a test injects.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            link.close()
            return
        with self._lock:
            # Checked under the lock stop() snapshots under, so a link is
            # either seen (and closed) by stop() or never registered.
            if self._stopping.is_set():
                registered = False
            else:
                self._links.add(link)
                registered = True
        if not registered:
            link.close()
            return
        try:
            self._spawn(
                self._pump_upstream_to_client,
                link,
                name=f"{threading.current_thread().name}-down",
            )
        except BaseException:
            # Neither pump will run: account for both so the link is closed.
            self._finish(link)
            self._finish(link)
            raise
        self._pump_client_to_upstream(link)

    def _pump_client_to_upstream(self, link: _Link) -> None:
        try:
            while True:
                data = link.client.recv(_BUFFER_SIZE)
                if not data:
                    break
                if not link.awaiting_response:
                    # First bytes of a new request.
                    if self._take_reset():
                        link.reset_client()
                        break
                    error = self._take_error()
                    if error is not None:
                        _answer_with_error(link.client, data, error)
                        break
                    # Set before forwarding: the response may come back at once.
                    link.awaiting_response = True
                if not self._delay():
                    break
                link.upstream.sendall(data)
        except OSError:
            pass  # The link was shut down, by either peer, a fault, or stop().
        finally:
            link.shut()
            self._finish(link)

    def _pump_upstream_to_client(self, link: _Link) -> None:
        try:
            while True:
                data = link.upstream.recv(_BUFFER_SIZE)
                if not data:
                    break
                if link.awaiting_response:
                    # First bytes of the response to the request in flight.
                    link.awaiting_response = False
                    if self._take_drop():
                        break  # The finally clause closes both connections.
                if not self._delay():
                    break
                link.client.sendall(data)
        except OSError:
            pass  # The link was shut down, by either peer, a fault, or stop().
        finally:
            link.shut()
            self._finish(link)

    def _finish(self, link: _Link) -> None:
        if link.pump_finished():
            with self._lock:
                self._links.discard(link)

    def _delay(self) -> bool:
        """Sleep for the current latency; return False if the proxy is stopping."""
        latency = self.latency
        if latency > 0:
            return not self._stopping.wait(latency)
        return not self._stopping.is_set()

    def _take_drop(self) -> bool:
        with self._lock:
            if self._drops_armed <= 0:
                return False
            self._drops_armed -= 1
            self._dropped += 1
            return True

    def _take_error(self) -> str | None:
        with self._lock:
            if not self._errors_armed:
                return None
            self._errors_sent += 1
            return self._errors_armed.pop(0)

    def _take_reset(self) -> bool:
        with self._lock:
            if self._resets_armed <= 0:
                return False
            self._resets_armed -= 1
            self._resets += 1
            return True


def _answer_with_error(client: socket.socket, first: bytes, error: str) -> None:
    """Read the rest of the request, then answer it as DynamoDB answers a refused request."""
    request = first
    while b"\r\n\r\n" not in request:
        chunk = client.recv(_BUFFER_SIZE)
        if not chunk:
            return
        request += chunk
    head, _, body = request.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = client.recv(_BUFFER_SIZE)
        if not chunk:
            return
        body += chunk
    payload = (
        f'{{"__type":"com.amazonaws.dynamodb.v20120810#{error}",'
        f'"message":"injected by the test proxy"}}'
    ).encode()
    client.sendall(
        b"HTTP/1.1 400 Bad Request\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\n"
        b"x-amzn-RequestId: injected\r\n"
        b"Connection: close\r\n" + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
    )
