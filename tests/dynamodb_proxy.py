"""A DynamoDB endpoint in front of a real one that answers as IAM, or a skewed clock, would.

``idemlock doctor`` must tell apart what the caller may do and how far its clock is from
DynamoDB's. DynamoDB Local allows every call and shares this machine's clock, so the tests put
this proxy between the command and DynamoDB Local: actions listed in ``deny`` get the
``AccessDeniedException`` IAM returns, and every response's ``Date`` header is moved by
``clock_offset_s``. Everything else passes through unchanged (the body keeps its CRC32).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["DynamoDBProxy"]

_TARGET_PREFIX = "DynamoDB_20120810."


class DynamoDBProxy:
    """``with DynamoDBProxy(upstream, deny={"dynamodb:Scan"}) as proxy: proxy.endpoint_url``."""

    def __init__(
        self, upstream: str, *, deny: Iterable[str] = (), clock_offset_s: float = 0.0
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.deny = frozenset(deny)
        self.clock_offset_s = clock_offset_s
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        """Where clients send their requests."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> DynamoDBProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # botocore keeps connections alive

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                action = "dynamodb:" + self.headers.get("X-Amz-Target", "").removeprefix(
                    _TARGET_PREFIX
                )
                if action in proxy.deny:
                    status, headers, answer = _denied(action)
                else:
                    status, headers, answer = proxy._forward(self.path, dict(self.headers), body)
                self.send_response_only(status)
                for name, value in headers:
                    if name.lower() not in ("date", "content-length", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header(
                    "Date", formatdate(time.time() + proxy.clock_offset_s, usegmt=True)
                )
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test output is not the place for a request log."""

        return Handler

    def _forward(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(
            self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30
        )
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _denied(action: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """What DynamoDB answers when IAM refuses ``action``."""
    body = {
        "__type": "com.amazon.coral.service#AccessDeniedException",
        "Message": f"User: arn:aws:iam::123456789012:user/operator is not authorized to perform: "
        f"{action} on resource: arn:aws:dynamodb:us-east-1:123456789012:table/t",
    }
    return 400, [("Content-Type", "application/x-amz-json-1.0")], json.dumps(body).encode()
