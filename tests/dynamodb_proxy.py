"""A DynamoDB endpoint in front of a real one that answers as IAM, or a skewed clock, would.

``idemlock doctor`` must tell apart what the caller may do and how far its clock is from
DynamoDB's. DynamoDB Local allows every call and shares this machine's clock, so the tests put
this proxy between the command and DynamoDB Local: actions listed in ``deny`` get the
``AccessDeniedException`` IAM returns, and every response's ``Date`` header is moved by
``clock_offset_s``. Everything else passes through unchanged (the body keeps its CRC32).

PartiQL requests are authorised per statement, by the statement's action (``dynamodb:PartiQLInsert``
for an ``INSERT``, and so on; ``BatchExecuteStatement`` is no IAM action of its own): a denied
statement of a ``BatchExecuteStatement`` answers with its own ``AccessDenied`` error while the
others run (the shape ``BatchStatementError`` documents), and a transaction with a denied
statement is refused whole.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DynamoDBProxy"]

_TARGET_PREFIX = "DynamoDB_20120810."
_JSON = ("Content-Type", "application/x-amz-json-1.0")

_STATEMENTS = {
    "BatchExecuteStatement": "Statements",
    "ExecuteTransaction": "TransactStatements",
    "ExecuteStatement": None,  # the request is the one statement
}
"""The PartiQL operations, and where their statements are in the request."""

_PARTIQL_ACTIONS = {
    "INSERT": "dynamodb:PartiQLInsert",
    "UPDATE": "dynamodb:PartiQLUpdate",
    "DELETE": "dynamodb:PartiQLDelete",
    "SELECT": "dynamodb:PartiQLSelect",
    "EXISTS": "dynamodb:PartiQLSelect",
}
"""The IAM action of a PartiQL statement, by its first word."""


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
                operation = self.headers.get("X-Amz-Target", "").removeprefix(_TARGET_PREFIX)
                status, headers, answer = proxy._answer(
                    operation, self.path, dict(self.headers), body
                )
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

    def _answer(
        self, operation: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """What IAM, then DynamoDB, answer ``operation``."""
        if operation in _STATEMENTS:
            return self._partiql(operation, path, headers, body)
        action = f"dynamodb:{operation}"
        return _denied(action) if action in self.deny else self._forward(path, headers, body)

    def _partiql(
        self, operation: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """A PartiQL request, each statement authorised by its own action."""
        request = json.loads(body)
        field = _STATEMENTS[operation]
        statements = [request] if field is None else request[field]
        actions = [_PARTIQL_ACTIONS[s["Statement"].split(None, 1)[0].upper()] for s in statements]
        denied = [action in self.deny for action in actions]
        if not any(denied):
            return self._forward(path, headers, body)
        if field != "Statements":
            return _denied(next(a for a, no in zip(actions, denied, strict=True) if no))
        allowed = [s for s, no in zip(statements, denied, strict=True) if not no]
        answers: Iterator[dict[str, Any]] = iter(())
        if allowed:
            status, answered, answer = self._forward(
                path, headers, json.dumps({**request, field: allowed}).encode()
            )
            if status != 200:
                return status, answered, answer
            answers = iter(json.loads(answer)["Responses"])
        responses = [
            {"Error": {"Code": "AccessDenied", "Message": f"not authorized to perform: {action}"}}
            if no
            else next(answers)
            for action, no in zip(actions, denied, strict=True)
        ]
        return 200, [_JSON], json.dumps({"Responses": responses}).encode()

    def _forward(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(
            self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30
        )
        try:
            headers = {**headers, "Content-Length": str(len(body))}  # a statement may be cut
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
    return 400, [_JSON], json.dumps(body).encode()
