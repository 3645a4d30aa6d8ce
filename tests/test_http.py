"""``idempotent_http``: each row of the issue's table, for each event kind, on each store.

Events are public sample events (``tests/http_events.py``); stores are MemoryStore and a fresh
table on DynamoDB Local, where the concurrent duplicate is a real race on the real conditional
write.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from idemlock import idempotent_http
from idemlock.errors import (
    ConfigurationError,
    EventError,
    ResultNotStoredError,
    UnstorableResultError,
)
from idemlock.http import _PROBLEMS, PROBLEM_TYPES
from idemlock.store import LockStore
from idemlock.testing import LambdaContext, ManualClock, MemoryStore
from tests.aws import fresh_table
from tests.http_events import KINDS, UUID, as_caller, http_event, response_headers
from tests.sources_helpers import load_event

Handler = Callable[[Any, Any], Any]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["memory", pytest.param("dynamodb-local", marks=pytest.mark.servers)])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> LockStore:
    """Each test on MemoryStore and on a fresh table of DynamoDB Local (idemlock enabled)."""
    monkeypatch.delenv("IDEMLOCK_DISABLED", raising=False)
    if request.param == "memory":
        return MemoryStore()
    endpoint: str = request.getfixturevalue("dynamodb_local")
    return fresh_table(endpoint)


class Counted:
    """A handler that answers ``response`` and counts its calls."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.calls = 0

    def __call__(self, event: Any, context: Any) -> Any:
        self.calls += 1
        return self.response


def protect(store: LockStore, response: Any, **options: Any) -> tuple[Handler, Counted]:
    counted = Counted(response)
    return idempotent_http(store=store, namespace="orders", **options)(counted), counted


CREATED = {
    "statusCode": 201,
    "headers": {"Content-Type": "application/json", "Location": "/orders/17"},
    "body": '{"id": 17}',
    "isBase64Encoded": False,
}


def problem(response: dict[str, Any]) -> dict[str, Any]:
    """The problem details of ``response``, after checking it is one."""
    assert response_headers(response)["content-type"] == "application/problem+json"
    details: dict[str, Any] = json.loads(response["body"])
    assert set(details) >= {"type", "title", "status", "detail"}
    assert details["status"] == response["statusCode"]
    return details


# -- first request, replay ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_first_request_runs_and_a_retry_replays_the_stored_response(
    store: LockStore, kind: str
) -> None:
    """The retry gets the stored status, headers, body and isBase64Encoded, marked
    Idempotent-Replayed: true in the header form the request used; the handler ran once."""
    handler, counted = protect(store, CREATED)
    first = handler(http_event(kind), LambdaContext())
    retry = handler(http_event(kind), LambdaContext())

    assert first == CREATED
    assert counted.calls == 1
    assert {k: v for k, v in retry.items() if k not in ("headers", "multiValueHeaders")} == {
        "statusCode": 201,
        "body": '{"id": 17}',
        "isBase64Encoded": False,
    }
    headers = response_headers(retry)
    assert headers["idempotent-replayed"] == "true"
    assert headers["location"] == "/orders/17"
    if kind == "alb-multi-value":
        assert retry["multiValueHeaders"]["Idempotent-Replayed"] == ["true"]


@pytest.mark.parametrize("kind", KINDS)
def test_base64_request_and_response_bodies_replay_exactly(store: LockStore, kind: str) -> None:
    """A binary request body (base64) keys the same on a retry; a binary response replays with
    its base64 body and isBase64Encoded."""
    png = {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\xff").decode("ascii"),
        "isBase64Encoded": True,
    }
    handler, counted = protect(store, png)
    handler(http_event(kind, body=b"\x00\x01binary\xff"), LambdaContext())
    retry = handler(http_event(kind, body=b"\x00\x01binary\xff"), LambdaContext())
    other = handler(http_event(kind, body=b"\x00\x02binary\xff"), LambdaContext())

    assert counted.calls == 1
    assert retry["body"] == png["body"]
    assert retry["isBase64Encoded"] is True
    assert other["statusCode"] == 422


def test_a_bare_payload_v2_response_replays_as_the_200_it_was(store: LockStore) -> None:
    """An HTTP API handler may return a bare JSON value (payload 2.0 makes it a 200): the replay
    spells that response out so it can carry the marker."""
    handler, counted = protect(store, {"id": 17})
    assert handler(http_event("http-api"), LambdaContext()) == {"id": 17}
    retry = handler(http_event("http-api"), LambdaContext())

    assert counted.calls == 1
    assert retry["statusCode"] == 200
    assert json.loads(retry["body"]) == {"id": 17}
    assert response_headers(retry)["idempotent-replayed"] == "true"


# -- in flight: 409 -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_duplicate_while_the_first_is_in_flight_gets_409_with_retry_after(
    store: LockStore, kind: str
) -> None:
    """While the first request's handler blocks, the same request gets 409, Retry-After (whole
    seconds, at most the lease) and problem details; the handler does not run for it. After the
    first completes, the retry replays."""
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def blocking(event: Any, context: Any) -> dict[str, Any]:
        calls.append(1)
        entered.set()
        assert release.wait(timeout=60)
        return CREATED

    handler = idempotent_http(store=store, namespace="orders")(blocking)
    first: list[Any] = []
    worker = threading.Thread(
        target=lambda: first.append(handler(http_event(kind), LambdaContext()))
    )
    worker.start()
    try:
        assert entered.wait(timeout=60)
        busy = handler(http_event(kind), LambdaContext(remaining_ms=30_000))
    finally:
        release.set()
        worker.join(timeout=60)

    assert busy["statusCode"] == 409
    details = problem(busy)
    assert '"id"' not in busy["body"]  # never the stored (or coming) response
    assert details["status"] == 409
    # The lease: the context's 30 s plus Lambda's grace of 2 s.
    assert 1 <= int(response_headers(busy)["retry-after"]) <= 32
    if kind.startswith("alb"):
        assert busy["statusDescription"] == "409 Conflict"
    if kind == "alb-multi-value":
        assert "headers" not in busy
    assert first == [CREATED]
    assert len(calls) == 1
    retry = handler(http_event(kind), LambdaContext())
    assert response_headers(retry)["idempotent-replayed"] == "true"
    assert len(calls) == 1


# -- a different request: 422 ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "change",
    [{"body": '{"item": "book", "quantity": 2}'}, {"query": {"parameter1": ["another"]}}],
    ids=["body", "query"],
)
def test_the_same_key_on_a_different_request_gets_422(
    store: LockStore, kind: str, change: dict[str, Any]
) -> None:
    """Same key, another body or query: 422 problem details, the handler not run, and the
    stored response never echoed."""
    handler, counted = protect(store, CREATED)
    handler(http_event(kind), LambdaContext())
    other = handler(http_event(kind, **change), LambdaContext())

    assert other["statusCode"] == 422
    assert problem(other)["status"] == 422
    assert "/orders/17" not in json.dumps(other)
    assert counted.calls == 1


def _routed(kind: str, path: str) -> dict[str, Any]:
    """A request for ``path`` matched by the route template ``/my/{proxy+}``."""
    event = http_event(kind, path=path)
    if kind == "rest":
        event["resource"] = "/my/{proxy+}"
    else:
        event["routeKey"] = event["requestContext"]["routeKey"] = "POST /my/{proxy+}"
    return event


@pytest.mark.parametrize("kind", ["rest", "http-api"])
def test_the_same_key_on_another_path_of_one_route_gets_422(store: LockStore, kind: str) -> None:
    """One route template (``/my/{proxy+}``), two paths: the same key is a different request."""
    handler, counted = protect(store, CREATED)
    handler(_routed(kind, "/my/a"), LambdaContext())
    other = handler(_routed(kind, "/my/b"), LambdaContext())

    assert other["statusCode"] == 422
    assert counted.calls == 1


@pytest.mark.parametrize("kind", ["function-url", "alb", "alb-multi-value"])
def test_without_a_route_template_the_path_is_the_route(store: LockStore, kind: str) -> None:
    """A function URL or an ALB names no route: each path scopes its own keys."""
    handler, counted = protect(store, CREATED)
    handler(http_event(kind, path="/a"), LambdaContext())
    assert handler(http_event(kind, path="/b"), LambdaContext()) == CREATED
    assert counted.calls == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_json_body_is_compared_canonically_and_headers_do_not_count(
    store: LockStore, kind: str
) -> None:
    """Key order and whitespace of a JSON body, and any other header, do not make a request
    different: the retry replays."""
    handler, counted = protect(store, CREATED)
    handler(http_event(kind, body='{"item": "book", "quantity": 1}'), LambdaContext())
    reordered = http_event(kind, body='{ "quantity":1,\n "item":"book" }')
    if "headers" in reordered:
        reordered["headers"]["x-retry-attempt"] = "2"
    retry = handler(reordered, LambdaContext())

    assert counted.calls == 1
    assert response_headers(retry)["idempotent-replayed"] == "true"


def test_the_same_key_with_another_method_is_another_request(store: LockStore) -> None:
    """POST and PATCH with one key never share a response (the method scopes the key)."""
    handler, counted = protect(store, CREATED)
    handler(http_event("http-api", method="POST"), LambdaContext())
    patched = handler(http_event("http-api", method="PATCH"), LambdaContext())

    assert patched == CREATED
    assert counted.calls == 2


# -- 400 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("key", "says"),
    [
        (None, "missing"),
        ('""', "empty"),
        ("", "empty"),
        (f'"{"k" * 256}"', "256 characters"),
        ('"unterminated', "not a valid structured field string"),
        ("two words", "neither a quoted string"),
    ],
    ids=["missing", "empty-string", "empty", "too-long", "bad-string", "bad-token"],
)
def test_a_protected_method_without_a_valid_key_gets_400(
    store: LockStore, kind: str, key: str | None, says: str
) -> None:
    """No key, an empty one, one over 255 characters or a malformed value: 400 problem details
    naming what is wrong; the handler does not run."""
    handler, counted = protect(store, CREATED)
    answer = handler(http_event(kind, key=key), LambdaContext())

    assert answer["statusCode"] == 400
    details = problem(answer)
    assert says in f"{details['title']} {details['detail']}".lower()
    assert counted.calls == 0


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "alb"])
def test_several_different_key_values_get_400_and_repeats_of_one_value_are_one_key(
    store: LockStore, kind: str
) -> None:
    """Two Idempotency-Key headers with different values (a list in multiValueHeaders, joined by
    a comma in a v2 headers map) are a 400; the same value twice is that key."""
    handler, counted = protect(store, CREATED)
    two = handler(http_event(kind, key=['"first"', "second"]), LambdaContext())
    same = handler(http_event(kind, key=['"first"', "first"]), LambdaContext())

    assert two["statusCode"] == 400
    assert "2 different" in problem(two)["detail"]
    assert same == CREATED
    assert counted.calls == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_structured_field_string_and_a_bare_token_are_the_same_key(
    store: LockStore, kind: str
) -> None:
    """``"8e03..."`` (the draft's form) and ``8e03...`` (a bare token) name one key; the header
    name is read in any case; a quoted key may hold what a token cannot (spaces, escapes)."""
    handler, counted = protect(store, CREATED)
    handler(http_event(kind, key=f'"{UUID}"'), LambdaContext())
    retry = handler(http_event(kind, key=UUID, header_name="IDEMPOTENCY-KEY"), LambdaContext())
    spaced = handler(http_event(kind, key='"a \\"quoted\\" key"'), LambdaContext())

    assert response_headers(retry)["idempotent-replayed"] == "true"
    assert spaced == CREATED
    assert counted.calls == 2


# -- what is not stored ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [500, 503, 429, 408, 409])
def test_5xx_429_and_retry_statuses_are_returned_not_stored_and_free_the_key(
    store: LockStore, kind: str, status: int
) -> None:
    """The handler's 5xx, 429, 408 or 409 reaches the client as it was; nothing is stored, so
    the retry runs the handler again."""
    failing = {"statusCode": status, "headers": {"Retry-After": "1"}, "body": "later"}
    handler, counted = protect(store, failing)
    first = handler(http_event(kind), LambdaContext())
    retry = handler(http_event(kind), LambdaContext())

    assert first == failing
    assert retry == failing
    assert counted.calls == 2


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_4xx_answer_is_stored_and_replayed(store: LockStore, status: int) -> None:
    """A 4xx other than 408/409/425/429 is the answer to that request: replayed, as the draft
    suggests."""
    refused = {"statusCode": status, "body": "no"}
    handler, counted = protect(store, refused)
    handler(http_event("http-api"), LambdaContext())
    retry = handler(http_event("http-api"), LambdaContext())

    assert retry["statusCode"] == status
    assert response_headers(retry)["idempotent-replayed"] == "true"
    assert counted.calls == 1


def test_store_status_chooses_which_statuses_are_stored_but_never_5xx(store: LockStore) -> None:
    """``store_status=`` overrides the default (here: only 201 is kept); a 5xx stays unstored
    even when it says yes."""
    only_201 = idempotent_http(store=store, namespace="a", store_status=lambda s: s == 201)
    always = idempotent_http(store=store, namespace="b", store_status=lambda s: True)
    ok, created, broken = (
        Counted({"statusCode": 200}),
        Counted(CREATED),
        Counted({"statusCode": 502}),
    )
    for handler in (only_201(ok), only_201(created), always(broken)):
        handler(http_event("alb"), LambdaContext())
        handler(http_event("alb"), LambdaContext())

    assert (ok.calls, created.calls, broken.calls) == (2, 1, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_handler_that_raises_frees_the_key_and_the_exception_propagates(
    store: LockStore, kind: str
) -> None:
    """The platform answers the exception (502); the retry runs the handler again."""
    attempts: list[int] = []

    def flaky(event: Any, context: Any) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database down")
        return CREATED

    handler = idempotent_http(store=store, namespace="orders")(flaky)
    with pytest.raises(RuntimeError, match="database down"):
        handler(http_event(kind), LambdaContext())
    assert handler(http_event(kind), LambdaContext()) == CREATED
    assert len(attempts) == 2


def test_a_response_without_a_status_code_is_not_stored(
    store: LockStore, caplog: pytest.LogCaptureFixture
) -> None:
    """An ALB or REST handler must answer a statusCode: without one nothing is stored (logged)."""
    handler, counted = protect(store, {"body": "no status"})
    handler(http_event("rest"), LambdaContext())
    handler(http_event("rest"), LambdaContext())

    assert counted.calls == 2
    assert "no valid statusCode" in caplog.text


# -- methods, required ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_other_methods_pass_through_unprotected_and_unchanged(store: LockStore, kind: str) -> None:
    """GET (and any method not in ``methods``) runs every time, its response untouched, with or
    without a key."""
    handler, counted = protect(store, CREATED)
    assert handler(http_event(kind, method="GET"), LambdaContext()) == CREATED
    assert handler(http_event(kind, method="GET", key=None), LambdaContext()) == CREATED
    assert handler(http_event(kind, method="GET"), LambdaContext()) == CREATED
    assert counted.calls == 3


def test_methods_chooses_the_protected_methods(store: LockStore) -> None:
    """``methods={"PUT"}``: PUT needs a key and replays; POST passes through."""
    handler, counted = protect(store, CREATED, methods={"put"})
    assert handler(http_event("rest", method="PUT", key=None), LambdaContext())["statusCode"] == 400
    handler(http_event("rest", method="PUT"), LambdaContext())
    replay = handler(http_event("rest", method="PUT"), LambdaContext())
    handler(http_event("rest", method="POST", key=None), LambdaContext())

    assert response_headers(replay)["idempotent-replayed"] == "true"
    assert counted.calls == 2


def test_required_false_runs_a_request_without_key_unprotected_and_logs_it(
    store: LockStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Never silent: each unprotected run is a warning naming the method and path."""
    handler, counted = protect(store, CREATED, required=False)
    with caplog.at_level("WARNING", logger="idemlock"):
        handler(http_event("function-url", key=None), LambdaContext())
        handler(http_event("function-url", key=None), LambdaContext())

    assert counted.calls == 2
    assert caplog.text.count("POST /my/path without an Idempotency-Key header") == 2
    bad = handler(http_event("function-url", key='""'), LambdaContext())
    assert bad["statusCode"] == 400  # an invalid key is still an error


# -- scopes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_two_callers_with_the_same_key_never_see_each_others_response(
    store: LockStore, kind: str
) -> None:
    """The caller's identity (JWT sub, IAM caller, principalId, ALB OIDC) scopes the key."""
    calls: list[str] = []

    def whose(event: Any, context: Any) -> dict[str, Any]:
        calls.append("x")
        return {"statusCode": 201, "body": f"order {len(calls)}"}

    handler = idempotent_http(store=store, namespace="orders")(whose)
    alice = handler(as_caller(http_event(kind), kind, "alice"), LambdaContext())
    bob = handler(as_caller(http_event(kind), kind, "bob"), LambdaContext())
    alice_again = handler(as_caller(http_event(kind), kind, "alice"), LambdaContext())

    assert (alice["body"], bob["body"], alice_again["body"]) == ("order 1", "order 2", "order 1")


def test_the_same_caller_on_two_routes_gets_two_keys(store: LockStore) -> None:
    """``POST /orders`` and ``POST /refunds`` with one key are two requests (the route scopes)."""
    handler, counted = protect(store, CREATED)
    for route in ("POST /orders", "POST /refunds"):
        event = http_event("http-api", path=route.split()[1])
        event["routeKey"] = event["requestContext"]["routeKey"] = route
        assert handler(event, LambdaContext()) == CREATED
    assert counted.calls == 2


def test_a_lambda_authorizer_principal_scopes_a_rest_request(store: LockStore) -> None:
    """The REST sample with a Lambda authorizer: its principalId scopes the key."""
    handler, counted = protect(store, CREATED)
    event = load_event("http/apigw-rest-principal")
    event["headers"] = {"Idempotency-Key": UUID}
    handler(event, LambdaContext())
    other = load_event("http/apigw-rest-principal")
    other["headers"] = {"Idempotency-Key": UUID}
    other["requestContext"]["authorizer"]["principalId"] = "someone-else"
    handler(other, LambdaContext())
    handler(event, LambdaContext())

    assert counted.calls == 2


def test_scope_names_the_caller_for_an_api_without_authorizer(store: LockStore) -> None:
    """``scope=`` replaces the identity: here an API key header a custom gateway checked."""
    handler, counted = protect(store, CREATED, scope=lambda event: event["headers"]["x-tenant"])
    for tenant in ("t1", "t2", "t1"):
        event = http_event("alb")
        event["headers"]["x-tenant"] = tenant
        handler(event, LambdaContext())
    assert counted.calls == 2


# -- what is not an HTTP request, and wrong options -----------------------------------------------


@pytest.mark.parametrize(
    ("event", "names"),
    [
        ("sqs", "'aws:sqs' records"),
        ("eventbridge-scheduled", "EventBridge event"),
        ("s3-put", "'aws:s3' records"),
    ],
)
def test_an_event_that_is_not_http_is_a_typed_error_naming_it(
    store: LockStore, event: str, names: str
) -> None:
    """The error names what arrived; the handler does not run."""
    handler, counted = protect(store, CREATED)
    with pytest.raises(EventError, match=names):
        handler(load_event(event), LambdaContext())
    with pytest.raises(EventError, match="got a str"):
        handler("POST /orders", LambdaContext())
    assert counted.calls == 0


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"key_fn": str}, "sets key_fn itself"),
        ({"fingerprint": str}, "sets fingerprint itself"),
        ({"retries": 3}, "unknown option 'retries'"),
        ({"store_result": False}, "store_result=False"),
        ({"methods": "POST"}, "collection of method names"),
        ({"scope": "sub"}, "scope must be callable"),
        ({"store_status": {200}}, "store_status must be callable"),
    ],
)
def test_wrong_options_are_configuration_errors(options: dict[str, Any], says: str) -> None:
    """Raised at decoration, naming the option."""
    with pytest.raises(ConfigurationError, match=says):
        idempotent_http(store=MemoryStore(), **options)


def test_an_async_handler_is_refused() -> None:
    """Lambda's Python runtime calls plain functions; an async def would complete at once."""

    async def handler(event: Any, context: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match="plain def"):
        idempotent_http(store=MemoryStore())(handler)


def test_every_transition_reaches_on_event(store: LockStore) -> None:
    """@idempotent's options pass through: on_event sees claimed, completed, duplicate."""
    kinds: list[str] = []
    handler, _ = protect(store, CREATED, on_event=lambda event: kinds.append(event.kind))
    handler(http_event("rest"), LambdaContext())
    handler(http_event("rest"), LambdaContext())
    assert kinds == ["claimed", "completed", "duplicate"]


def test_disabled_runs_the_handler_every_time_and_still_answers_http(store: LockStore) -> None:
    """``disabled=True`` (or IDEMLOCK_DISABLED): no lock, the handler's response as it is."""
    handler, counted = protect(store, CREATED, disabled=True)
    handler(http_event("http-api"), LambdaContext())
    assert handler(http_event("http-api"), LambdaContext()) == CREATED
    assert counted.calls == 2


def test_a_completed_request_whose_response_was_not_kept_is_never_run_again(
    store: LockStore,
) -> None:
    """A response too large to store completes the key all the same (the default for HTTP): the
    retry does not run the handler, and gets a 409 that says so, not an empty 200."""
    huge = {"statusCode": 200, "body": base64.b64encode(os.urandom(700_000)).decode("ascii")}
    handler, counted = protect(store, huge)
    assert handler(http_event("rest"), LambdaContext()) == huge
    retry = handler(http_event("rest"), LambdaContext())

    assert counted.calls == 1
    assert retry["statusCode"] == 409
    assert "not kept" in problem(retry)["title"]
    assert "retry-after" not in response_headers(retry)


def test_a_rest_key_in_the_single_value_headers_map_alone_is_read(store: LockStore) -> None:
    """A hand-built REST event (a test, ``sam local``) may put the key only in ``headers``."""
    handler, counted = protect(store, CREATED)
    event = http_event("rest", key=None)
    event["headers"]["Idempotency-Key"] = UUID
    handler(event, LambdaContext())
    retry = handler(event, LambdaContext())

    assert response_headers(retry)["idempotent-replayed"] == "true"
    assert counted.calls == 1


def test_every_problem_type_leads_to_its_section_of_the_docs() -> None:
    """RFC 9457: a problem's type URI should lead to documentation; each is a heading of
    docs/http.md."""
    headings = {
        line.removeprefix("### ").strip()
        for line in (ROOT / "docs" / "http.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("### ")
    }
    assert set(_PROBLEMS) <= headings
    assert PROBLEM_TYPES.endswith("docs/http.md#")


def test_on_unstorable_result_raise_raises_and_never_runs_twice(store: LockStore) -> None:
    """``on_unstorable_result="raise"`` keeps @idempotent's behaviour: the error propagates, the
    key completes without the response, and the retry gets ResultNotStoredError without running
    the handler again."""
    huge = {"statusCode": 200, "body": base64.b64encode(os.urandom(700_000)).decode("ascii")}
    handler, counted = protect(store, huge, on_unstorable_result="raise")
    with pytest.raises(UnstorableResultError):
        handler(http_event("alb"), LambdaContext())
    with pytest.raises(ResultNotStoredError):
        handler(http_event("alb"), LambdaContext())
    assert counted.calls == 1


def test_a_response_not_stored_is_logged(
    store: LockStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Never silent: a 5xx that frees the key says so on the idemlock.http logger."""
    handler, _ = protect(store, {"statusCode": 503, "body": "down"})
    with caplog.at_level("INFO", logger="idemlock.http"):
        handler(http_event("http-api"), LambdaContext())
    assert "POST /my/path: a response with status 503 is not stored" in caplog.text


def test_retry_after_is_what_is_left_of_the_holders_lease(
    store: LockStore, clock: ManualClock
) -> None:
    """With a 30 s lease, a duplicate 10 s into the first request is told 20 s; Retry-After is
    read on the decorator's clock (here sent from inside the first request: no thread)."""
    seen: list[dict[str, Any]] = []

    def handler(event: Any, context: Any) -> dict[str, Any]:
        clock.advance(10)
        seen.append(protected(http_event("http-api"), None))  # the client's retry, meanwhile
        return CREATED

    protected = idempotent_http(store=store, namespace="orders", lease=30, clock=clock)(handler)
    assert protected(http_event("http-api"), None) == CREATED

    [busy] = seen
    assert busy["statusCode"] == 409
    assert response_headers(busy)["retry-after"] == "20"
