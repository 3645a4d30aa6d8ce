"""HTTP request events for the ``idempotent_http`` tests, built on public sample events.

Each kind starts from a file in ``tests/events/http/`` (copied from AWS's and Powertools' own test
events; origins in its README.md) and changes only what a test needs: the method, the
``Idempotency-Key`` header, the body, the path and query, the caller.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HTTP_EVENTS = Path(__file__).resolve().parent / "events" / "http"

KINDS = ("rest", "http-api", "function-url", "alb", "alb-multi-value")
"""Every event kind: API Gateway REST (v1), HTTP API (v2), function URL, ALB in both forms."""

_FILES = {
    "rest": "apigw-rest.json",
    "http-api": "http-api-jwt.json",
    "function-url": "function-url-iam.json",
    "alb": "alb.json",
    "alb-multi-value": "alb-multi-value.json",
}

UUID = "8e03978e-40d5-43e8-bc93-6894a57f9324"
"""The draft's example key."""


def http_event(
    kind: str,
    *,
    key: str | Sequence[str] | None = f'"{UUID}"',
    method: str = "POST",
    body: str | bytes = '{"item": "book", "quantity": 1}',
    path: str | None = None,
    query: dict[str, list[str]] | None = None,
    header_name: str = "Idempotency-Key",
) -> dict[str, Any]:
    """A ``kind`` event for ``method`` with ``key`` as its Idempotency-Key header value(s).

    ``key=None`` sends no header; a list sends the header once per value, as the service
    delivers repeats (a list in ``multiValueHeaders``, joined by commas in a v2 ``headers``).
    ``body`` as bytes is sent base64-encoded.
    """
    event: dict[str, Any] = json.loads((HTTP_EVENTS / _FILES[kind]).read_text(encoding="utf-8"))
    values = [] if key is None else [key] if isinstance(key, str) else list(key)
    if kind in ("http-api", "function-url"):
        event["requestContext"]["http"]["method"] = method
        if values:
            event["headers"][header_name.lower()] = ",".join(values)
    else:
        event["httpMethod"] = method
        if "requestContext" in event and "httpMethod" in event["requestContext"]:
            event["requestContext"]["httpMethod"] = method
        if "multiValueHeaders" in event and values:
            event["multiValueHeaders"][header_name] = values
        if "headers" in event and values:
            event["headers"][header_name] = values[-1]  # REST: the last of repeated values
    _set_body(event, body)
    if path is not None:
        _set_path(event, kind, path)
    if query is not None:
        _set_query(event, kind, query)
    return event


def _set_body(event: dict[str, Any], body: str | bytes) -> None:
    if isinstance(body, bytes):
        event["body"] = base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = True
    else:
        event["body"] = body
        event["isBase64Encoded"] = False


def _set_path(event: dict[str, Any], kind: str, path: str) -> None:
    if kind in ("http-api", "function-url"):
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
    else:
        event["path"] = path


def _set_query(event: dict[str, Any], kind: str, query: dict[str, list[str]]) -> None:
    if kind in ("http-api", "function-url"):
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, vs in query.items() for v in vs)
    elif "multiValueQueryStringParameters" in event:
        event["multiValueQueryStringParameters"] = query
        event.pop("queryStringParameters", None)
    else:
        event["queryStringParameters"] = {k: vs[-1] for k, vs in query.items()}


def as_caller(event: dict[str, Any], kind: str, caller: str) -> dict[str, Any]:
    """``event`` as sent by ``caller``, in the place its service names the caller."""
    if kind == "http-api":
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = caller
    elif kind == "function-url":
        event["requestContext"]["authorizer"]["iam"]["userArn"] = f"arn:aws:iam::1:user/{caller}"
    elif kind == "rest":
        event["requestContext"]["authorizer"]["principalId"] = caller
    elif kind == "alb":
        event["headers"]["x-amzn-oidc-identity"] = caller
    else:
        event["multiValueHeaders"]["x-amzn-oidc-identity"] = [caller]
    return event


def response_headers(response: dict[str, Any]) -> dict[str, str]:
    """A response's headers, names in lower case, from whichever form it used."""
    found = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        found[name.lower()] = ",".join(values)
    return found
