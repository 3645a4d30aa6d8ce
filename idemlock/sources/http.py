"""HTTP requests delivered to Lambda: API Gateway (REST and HTTP APIs), function URLs and ALB.

:func:`parse_request` reads any of the four into one :class:`HttpRequest`: the method, the path,
the route (the template the API matched, which scopes a key), the query and the body (decoded
from base64), the headers read case-insensitively, and the caller's identity when an authorizer
established one. The event shapes, as AWS documents them:

- API Gateway REST APIs (and HTTP APIs with payload format 1.0): ``httpMethod``, ``resource``,
  ``path``, ``headers`` and ``multiValueHeaders``, ``queryStringParameters`` and
  ``multiValueQueryStringParameters``; the authorizer in ``requestContext.authorizer``
  (``claims`` of a Cognito authorizer, ``principalId`` of a Lambda authorizer), IAM and API key
  callers in ``requestContext.identity``.
- HTTP APIs (payload format 2.0) and function URLs: ``version: "2.0"``, ``rawPath``,
  ``rawQueryString``, lower-case ``headers`` with repeated headers joined by commas,
  ``requestContext.http.method``, ``routeKey``; ``requestContext.authorizer.jwt`` or ``.iam``.
- Application Load Balancer: ``requestContext.elb``, ``httpMethod``, ``path``, and either
  ``headers`` and ``queryStringParameters`` or, with multi-value headers turned on for the target
  group, ``multiValueHeaders`` and ``multiValueQueryStringParameters`` -- and it expects its
  answer in the same form. An ALB that authenticates users (OIDC or Cognito) sends the user in
  the ``x-amzn-oidc-identity`` header.

This module parses events only; it knows nothing of locks.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final, Literal, NamedTuple, TypeGuard
from urllib.parse import parse_qsl

from idemlock.errors import EventError
from idemlock.sources import _event

Kind = Literal["api-gateway-rest", "api-gateway-http", "function-url", "alb"]
"""What delivered the request. An HTTP API's payload format 1.0 reads as ``api-gateway-rest``."""

SOURCE: Final = "http"
"""The ``source`` of the errors this module raises."""

IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"
"""The request header that carries the client's key (read in any case)."""

MAX_KEY_LENGTH: Final = 255
"""The longest key accepted, in characters."""

OIDC_IDENTITY_HEADER: Final = "x-amzn-oidc-identity"
"""The header an ALB that authenticated the user sets to the user's subject (``sub``)."""


class HttpRequest(NamedTuple):
    """One HTTP request as Lambda delivered it, whichever service sent it."""

    kind: Kind
    method: str
    """Upper case: ``POST``."""
    path: str
    """The path the client asked for: ``/orders/17``."""
    route: str
    """The route that matched (``/orders/{id}``); the path where the service names none."""
    query: tuple[tuple[str, str], ...]
    """Every query parameter, ordered by name (repeated names keep their order)."""
    body: bytes
    """The body, decoded from base64 when ``isBase64Encoded``; empty when there is none."""
    headers: tuple[tuple[str, str], ...]
    """Each distinct (name, value) pair of the headers, names in lower case."""
    identity: str | None
    """Who the platform says the caller is (authorizer, IAM, API key, ALB OIDC); ``None``."""
    multi_value: bool
    """An ALB with multi-value headers on: it takes its answer in ``multiValueHeaders`` only."""

    def header(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), as delivered."""
        wanted = name.lower()
        return [value for key, value in self.headers if key == wanted]

    def fingerprint(self) -> dict[str, object]:
        """What makes two requests the same: method, path, query and body; never headers.

        A JSON body counts by its canonical form (keys sorted, no whitespace), so that a client
        that serialises the same object differently on a retry still matches.
        """
        return {
            "method": self.method,
            "path": self.path,
            "query": [list(pair) for pair in self.query],
            "body": hashlib.sha256(_canonical_body(self.body)).hexdigest(),
        }


def is_http_event(event: object) -> TypeGuard[Mapping[str, Any]]:
    """Whether ``event`` looks like an API Gateway, function URL or ALB request."""
    if not isinstance(event, Mapping):
        return False
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return False
    return "httpMethod" in event or isinstance(context.get("http"), Mapping)


def parse_request(event: object) -> HttpRequest:
    """The request in an API Gateway, function URL or ALB event; :class:`EventError` otherwise.

    The error names what arrived instead, so a handler wired to the wrong trigger says so.
    """
    if not is_http_event(event):
        raise EventError(
            f"expected an API Gateway, function URL or Application Load Balancer request, got "
            f"{_describe(event)}",
            path="requestContext",
            source=SOURCE,
        )
    if event.get("version") == "2.0" or "httpMethod" not in event:
        return _parse_v2(event)
    return _parse_v1(event)


def _parse_v1(event: Mapping[str, Any]) -> HttpRequest:
    """API Gateway REST (payload 1.0) and ALB: ``httpMethod``, ``path``, (multi-value) maps."""
    context = _event.as_mapping(event["requestContext"], path="requestContext", source=SOURCE)
    alb = isinstance(context.get("elb"), Mapping)
    path = _event.text(event, "path", source=SOURCE)
    resource = _event.optional_text(event, "resource", source=SOURCE)
    # API Gateway REST sends both maps (the single one holds each header's last value), an ALB
    # one of them: read both, each header value once.
    headers = _pairs(
        _event.optional_mapping(event, "multiValueHeaders", source=SOURCE), "multiValueHeaders"
    ) + _pairs(_event.optional_mapping(event, "headers", source=SOURCE), "headers")
    query = _pairs(
        _event.optional_mapping(event, "multiValueQueryStringParameters", source=SOURCE),
        "multiValueQueryStringParameters",
    ) or _pairs(
        _event.optional_mapping(event, "queryStringParameters", source=SOURCE),
        "queryStringParameters",
    )
    lowered = tuple(dict.fromkeys((name.lower(), value) for name, value in headers))
    identity = _alb_identity(lowered) if alb else _rest_identity(context)
    return HttpRequest(
        kind="alb" if alb else "api-gateway-rest",
        method=_event.text(event, "httpMethod", source=SOURCE).upper(),
        path=path,
        route=resource or path,
        query=_ordered(query),
        body=_body(event),
        headers=lowered,
        identity=" ".join(identity) or None,
        multi_value=alb and "multiValueHeaders" in event,
    )


def _parse_v2(event: Mapping[str, Any]) -> HttpRequest:
    """HTTP API (payload 2.0) and function URLs: ``rawPath``, ``rawQueryString``, ``routeKey``."""
    method = _event.text(event, "requestContext.http.method", source=SOURCE).upper()
    path = _event.optional_text(event, "rawPath", source=SOURCE) or _event.text(
        event, "requestContext.http.path", source=SOURCE
    )
    route_key = _event.optional_text(event, "routeKey", source=SOURCE) or "$default"
    # "POST /orders/{id}": the method is said again before the template; "$default" matched
    # whatever came, so the path is the route (always so for a function URL).
    route = path if route_key == "$default" else route_key.split(" ", 1)[-1]
    raw_query = _event.optional_text(event, "rawQueryString", source=SOURCE) or ""
    domain = _event.optional_text(event, "requestContext.domainName", source=SOURCE) or ""
    context = _event.as_mapping(event["requestContext"], path="requestContext", source=SOURCE)
    headers = _pairs(_event.optional_mapping(event, "headers", source=SOURCE), "headers")
    return HttpRequest(
        kind="function-url" if ".lambda-url." in domain else "api-gateway-http",
        method=method,
        path=path,
        route=route,
        query=_ordered(parse_qsl(raw_query, keep_blank_values=True)),
        body=_body(event),
        headers=tuple((name.lower(), value) for name, value in headers),
        identity=" ".join(_http_api_identity(context)) or None,
        multi_value=False,
    )


def idempotency_key(request: HttpRequest) -> str | None:
    """The request's ``Idempotency-Key``, ``None`` without one; :class:`EventError` if invalid.

    The draft makes the value a Structured Field string (RFC 8941: ``"8e03978e-..."``); a bare
    token (``8e03978e-...``) is accepted too, as many clients send one. Repeating the header
    with the same value is one key; two different values, an empty key or one over 255
    characters are errors.
    """
    members = [
        member.strip()
        for value in request.header(IDEMPOTENCY_KEY_HEADER)
        for member in _split_members(value)
    ]
    if not members:
        return None
    keys = {_unquote(member) for member in members}
    if len(keys) > 1:
        raise EventError(
            f"the request carries {len(keys)} different {IDEMPOTENCY_KEY_HEADER} values; send "
            "exactly one",
            path=f"headers.{IDEMPOTENCY_KEY_HEADER}",
            source=SOURCE,
        )
    (key,) = keys
    if len(key) > MAX_KEY_LENGTH:
        raise EventError(
            f"the {IDEMPOTENCY_KEY_HEADER} is {len(key)} characters long; at most "
            f"{MAX_KEY_LENGTH} are accepted (a UUID is 36)",
            path=f"headers.{IDEMPOTENCY_KEY_HEADER}",
            source=SOURCE,
        )
    return key


def _split_members(value: str) -> list[str]:
    """A header value split at commas outside quoted strings (repeated headers arrive joined)."""
    members: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if char == "," and not quoted:
            members.append("".join(current))
            current = []
            continue
        current.append(char)
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
    members.append("".join(current))
    return members


_SF_STRING: Final = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
"""RFC 8941's sf-string: printable ASCII in double quotes, only a quote and a backslash escaped."""

_TOKEN: Final = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")
"""A bare key: visible ASCII but a quote, a comma, a semicolon or a backslash."""

_ESCAPE: Final = re.compile(r"\\([\"\\])")


def _unquote(member: str) -> str:
    """The key in one member: a Structured Field string's content, or a bare token as it is."""
    where = f"headers.{IDEMPOTENCY_KEY_HEADER}"
    if member in ("", '""'):
        raise EventError(f"the {IDEMPOTENCY_KEY_HEADER} is empty", path=where, source=SOURCE)
    if member.startswith('"'):
        found = _SF_STRING.fullmatch(member)
        if found is None:
            raise EventError(
                f"the {IDEMPOTENCY_KEY_HEADER} {member!r:.80} is not a valid Structured Field "
                'string (printable ASCII in double quotes, \\" and \\\\ escaped)',
                path=where,
                source=SOURCE,
            )
        return _ESCAPE.sub(r"\1", found[1])
    if _TOKEN.fullmatch(member) is None:
        raise EventError(
            f"the {IDEMPOTENCY_KEY_HEADER} {member!r:.80} is neither a quoted string "
            '("...") nor a token (visible ASCII without quotes, commas or semicolons)',
            path=where,
            source=SOURCE,
        )
    return member


def _pairs(mapping: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    """(name, value) for a map of strings or of lists of strings; anything else is an error."""
    pairs: list[tuple[str, str]] = []
    for name, value in mapping.items():
        values = value if _event.is_list(value) else [value]
        for item in values:
            if item is None:
                continue  # API Gateway sends null for a parameter given without a value
            if not isinstance(item, str):
                raise EventError(
                    f"expected string values, got a {type(item).__name__}",
                    path=f"{where}.{name}",
                    source=SOURCE,
                )
            pairs.append((str(name), item))
    return pairs


def _ordered(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Ordered by name only: ``?b=1&a=2`` is ``?a=2&b=1``, but ``?a=1&a=2`` is not ``?a=2&a=1``."""
    return tuple(sorted(pairs, key=lambda pair: pair[0]))


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded") is True:
        return _event.base64_bytes(body, path="body", source=SOURCE)
    if not isinstance(body, str):
        raise EventError(
            f"expected the body as a string, got a {type(body).__name__}",
            path="body",
            source=SOURCE,
        )
    return body.encode("utf-8", "surrogatepass")


def _canonical_body(body: bytes) -> bytes:
    """A JSON body re-serialised with sorted keys and no whitespace; any other body as is."""
    try:
        value = json.loads(body)
    except ValueError:  # not JSON (or not UTF-8): compared byte for byte
        return body
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )


def _rest_identity(context: Mapping[str, Any]) -> list[str]:
    """Cognito ``sub``, a Lambda authorizer's ``principalId``, the IAM caller, the API key."""
    found = []
    authorizer = context.get("authorizer")
    if isinstance(authorizer, Mapping):
        claims = authorizer.get("claims")
        found += _jwt(claims) if isinstance(claims, Mapping) else []
        found += _labelled("principal", authorizer.get("principalId"))
    identity = context.get("identity")
    if isinstance(identity, Mapping):
        found += _labelled("iam", identity.get("userArn"))
        found += _labelled("api-key", identity.get("apiKeyId"))
    return found


def _http_api_identity(context: Mapping[str, Any]) -> list[str]:
    """A JWT authorizer's ``iss`` and ``sub``, or the IAM caller (HTTP APIs, function URLs)."""
    authorizer = context.get("authorizer")
    if not isinstance(authorizer, Mapping):
        return []
    found = []
    jwt = authorizer.get("jwt")
    if isinstance(jwt, Mapping) and isinstance(jwt.get("claims"), Mapping):
        found += _jwt(jwt["claims"])
    iam = authorizer.get("iam")
    if isinstance(iam, Mapping):
        found += _labelled("iam", iam.get("userArn"))
    found += _labelled("principal", authorizer.get("principalId"))
    return found


def _alb_identity(headers: tuple[tuple[str, str], ...]) -> list[str]:
    """The user an authenticating ALB names (it replaces any such header a client sent)."""
    values = [value for name, value in headers if name == OIDC_IDENTITY_HEADER]
    return _labelled("oidc", values[0]) if len(values) == 1 else []


def _jwt(claims: Mapping[str, Any]) -> list[str]:
    """``sub`` names a user only within its issuer: both count when the token carries both."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        return []
    issuer = claims.get("iss")
    return [f"jwt={issuer}|{subject}" if isinstance(issuer, str) and issuer else f"jwt={subject}"]


def _labelled(label: str, value: object) -> list[str]:
    return [f"{label}={value}"] if isinstance(value, str) and value else []


def _describe(event: object) -> str:
    """What arrived instead of an HTTP request, in a few words."""
    if not isinstance(event, Mapping):
        return f"a {type(event).__name__}"
    records = event.get(_event.RECORDS)
    if _event.is_list(records) and records and isinstance(records[0], Mapping):
        return f"a batch of {_event.event_source(records[0])!r} records"
    if "detail-type" in event:
        return f"an EventBridge event ({event.get('detail-type')!r:.60})"
    keys = ", ".join(sorted(map(str, event))[:8])
    return f"a mapping with keys {keys or '(none)'}"
