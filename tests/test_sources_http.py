"""``idemlock.sources.http``: HTTP request events parsed into one view, and the key header read.

The events are the public samples of ``tests/events/http/`` (origins in its README), changed only
where a test says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from idemlock.errors import EventError
from idemlock.sources.http import HttpRequest, idempotency_key, is_http_event, parse_request
from tests.http_events import UUID, http_event
from tests.sources_helpers import load_event


@pytest.mark.parametrize(
    ("name", "kind", "method", "path", "identity"),
    [
        ("apigw-rest", "api-gateway-rest", "GET", "/my/path", None),
        ("apigw-rest-principal", "api-gateway-rest", "POST", "/trip", "principal=fake"),
        ("http-api-jwt", "api-gateway-http", "GET", "/my/path", None),
        (
            "function-url-iam",
            "function-url",
            "POST",
            "/my/path",
            "iam=arn:aws:iam::111122223333:user/example-user",
        ),
        ("alb", "alb", "GET", "/", None),
        ("alb-multi-value", "alb", "GET", "/", None),
    ],
)
def test_each_sample_event_parses_as_what_it_is(
    name: str, kind: str, method: str, path: str, identity: str | None
) -> None:
    """The kind, method, path and caller of each public sample, as its service sent them."""
    request = parse_request(load_event(f"http/{name}"))
    assert (request.kind, request.method, request.path, request.identity) == (
        kind,
        method,
        path,
        identity,
    )
    assert request.multi_value == (name == "alb-multi-value")


def test_the_query_is_ordered_by_name_and_keeps_the_order_of_repeated_values() -> None:
    """``b=1&a=2`` equals ``a=2&b=1``; ``a=1&a=2`` is not ``a=2&a=1``; v1 and v2 read alike."""
    v2 = parse_request(load_event("http/http-api-jwt"))  # parameter1=value1&parameter1=value2&...
    v1 = parse_request(load_event("http/apigw-rest"))  # the same, as multi-value parameters
    expected = (("parameter1", "value1"), ("parameter1", "value2"), ("parameter2", "value"))
    assert v2.query == v1.query == expected


def test_a_base64_body_is_decoded_and_bad_base64_is_an_event_error() -> None:
    """``isBase64Encoded`` bodies arrive as bytes; invalid base64 names the body."""
    assert parse_request(http_event("alb", body=b"\x00\xff")).body == b"\x00\xff"
    event = http_event("alb")
    event["body"], event["isBase64Encoded"] = "not base64!", True
    with pytest.raises(EventError, match="invalid base64") as raised:
        parse_request(event)
    assert raised.value.path == "body"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"body": 17}, "body"),
        ({"headers": {"idempotency-key": 17}}, "headers.idempotency-key"),
        ({"httpMethod": None}, "httpMethod"),
    ],
)
def test_a_malformed_request_is_an_event_error_naming_the_field(
    change: dict[str, Any], path: str
) -> None:
    """Never a KeyError or TypeError from inside the parser."""
    event = http_event("alb") | change
    with pytest.raises(EventError) as raised:
        parse_request(event)
    assert raised.value.path == path


def test_the_fingerprint_ignores_json_layout_and_headers_but_not_values() -> None:
    """Key order and whitespace of a JSON body do not count, nor do headers; values do."""

    def fingerprint(body: str, **headers: str) -> object:
        event = http_event("http-api", body=body)
        event["headers"].update(headers)
        return parse_request(event).fingerprint()

    assert fingerprint('{"a": 1, "b": [1, 2]}') == fingerprint('{ "b":[1,2],"a":1 }', x="y")
    assert fingerprint('{"a": 1}') != fingerprint('{"a": 2}')
    assert fingerprint("a=1&b=2") != fingerprint("b=2&a=1")  # not JSON: byte for byte


def test_jwt_claims_scope_by_issuer_and_subject() -> None:
    """A JWT ``sub`` names a user within its issuer: both make the identity."""
    event = http_event("http-api")
    event["requestContext"]["authorizer"]["jwt"]["claims"] |= {"sub": "u-1", "iss": "https://a"}
    assert parse_request(event).identity == "jwt=https://a|u-1"


def test_a_rest_api_names_cognito_iam_and_api_key_callers() -> None:
    """REST: a Cognito authorizer's claims, the IAM caller and the API key all count."""
    event = http_event("rest")
    event["requestContext"]["authorizer"]["claims"] = {"sub": "u-1"}
    event["requestContext"]["identity"] |= {"userArn": "arn:aws:iam::1:user/x", "apiKeyId": "k1"}
    assert parse_request(event).identity == "jwt=u-1 iam=arn:aws:iam::1:user/x api-key=k1"


def test_an_authenticating_alb_names_the_user_in_its_oidc_header() -> None:
    """``x-amzn-oidc-identity``, in either header form, is the caller."""
    single = http_event("alb")
    single["headers"]["x-amzn-oidc-identity"] = "user-7"
    multi = http_event("alb-multi-value")
    multi["multiValueHeaders"]["X-Amzn-Oidc-Identity"] = ["user-7"]
    assert parse_request(single).identity == parse_request(multi).identity == "oidc=user-7"


@pytest.mark.parametrize(
    "event",
    [load_event("sqs"), load_event("eventbridge-scheduled"), {"requestContext": {}}, [], None],
    ids=["sqs", "eventbridge", "no-method", "list", "none"],
)
def test_what_is_not_an_http_request_is_named(event: object) -> None:
    """``is_http_event`` says no, and ``parse_request`` raises an EventError saying what came."""
    assert not is_http_event(event)
    with pytest.raises(EventError, match="expected an API Gateway, function URL or Application"):
        parse_request(event)


def _key_of(*values: str) -> str | None:
    event = http_event("alb-multi-value", key=list(values) or None)
    return idempotency_key(parse_request(event))


def test_a_quoted_string_and_a_token_are_one_key() -> None:
    """RFC 8941 string or bare token; escapes inside a string are read."""
    assert _key_of(f'"{UUID}"') == _key_of(UUID) == UUID
    assert _key_of('"a \\"b\\" \\\\c"') == 'a "b" \\c'
    assert _key_of(f'"{UUID}"', UUID) == UUID  # the same key twice, in both forms
    assert _key_of() is None


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (("",), "is empty"),
        (('""',), "is empty"),
        (("k" * 256,), "256 characters"),
        (("a", "b"), "2 different"),
        (('"a", "b"',), "2 different"),  # joined by a comma, as a v2 event joins repeats
        (('"a"; p=1',), "not a valid Structured Field string"),
        (('"tab\there"',), "not a valid Structured Field string"),
        (('"bad \\n escape"',), "not a valid Structured Field string"),
        (("to ken",), "neither a quoted string"),
        (("é",), "neither a quoted string"),
    ],
)
def test_an_invalid_key_is_an_event_error_saying_why(values: tuple[str, ...], says: str) -> None:
    """Each invalid form raises, with the header named as the path."""
    with pytest.raises(EventError, match=says) as raised:
        _key_of(*values)
    assert raised.value.path == "headers.Idempotency-Key"


def test_a_key_of_255_characters_is_accepted() -> None:
    """The limit is inclusive."""
    assert _key_of("k" * 255) == "k" * 255


def test_headers_are_read_in_any_case_from_both_maps_of_a_rest_event() -> None:
    """REST sends ``headers`` and ``multiValueHeaders``: a value in either is read, once."""
    request: HttpRequest = parse_request(http_event("rest", key=UUID))
    assert request.header("IDEMPOTENCY-KEY") == [UUID]
