"""``@idempotent_http``: the ``Idempotency-Key`` header for Lambda handlers that answer HTTP.

Built on :func:`idemlock.idempotent`, as the IETF draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header-06) describes it. What a client sees:

=============================================  ================================================
first request                                  the handler's response
same key, same request, completed              the stored response + ``Idempotent-Replayed``
same key while the first is in flight          409, ``Retry-After``, problem details
same key, another path, query or body          422, problem details
protected method without a key (or a bad one)  400, problem details
handler returns 5xx or 429                     that response; nothing stored, the key freed
handler raises                                 the key freed, the exception propagates
=============================================  ================================================

The stored key is scoped by method, route and the caller's identity (see
:mod:`idemlock.sources.http`), so two callers who choose the same key never share a response.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, Final, NamedTuple, TypeVar

from idemlock._decorator import idempotent
from idemlock._invocation import serving
from idemlock._options import IdempotentOptions
from idemlock.errors import (
    ConfigurationError,
    EventError,
    InProgressError,
    InvalidKeyError,
    OutcomeUnknownError,
    PayloadMismatchError,
)
from idemlock.keys import default_namespace
from idemlock.sources.http import (
    IDEMPOTENCY_KEY_HEADER,
    HttpRequest,
    idempotency_key,
    parse_request,
)

__all__ = [
    "DEFAULT_METHODS",
    "PROBLEM_TYPES",
    "REPLAYED_HEADER",
    "default_store_status",
    "idempotent_http",
]

REPLAYED_HEADER: Final = "Idempotent-Replayed"
"""Added (``true``) to a response that was stored and is replayed, not produced now."""

DEFAULT_METHODS: Final = frozenset({"POST", "PATCH"})
"""The methods that need a key unless ``methods=`` says otherwise."""

PROBLEM_TYPES: Final = "https://github.com/idemlock/idemlock/blob/main/docs/http.md#"
"""Where each problem's ``type`` points: its section of docs/http.md (RFC 9457: a type URI
should lead to documentation of the problem)."""

_PROBLEMS: Final = {
    # type (its anchor in docs/http.md): (status, title)
    "idempotency-key-missing": (400, "Idempotency-Key is missing"),
    "idempotency-key-invalid": (400, "Idempotency-Key is invalid"),
    "idempotency-key-in-use": (409, "A request with this Idempotency-Key is being processed"),
    "idempotency-key-reused": (422, "Idempotency-Key reused for a different request"),
    "idempotency-response-not-kept": (
        409,
        "The request with this Idempotency-Key was processed; its response was not kept",
    ),
    "idempotency-outcome-unknown": (
        409,
        "The request with this Idempotency-Key stopped before it finished; its outcome is unknown",
    ),
}

_NEVER_STORED: Final = frozenset({408, 409, 425, 429})
"""4xx statuses that say "try again" rather than "this is the answer": never replayed."""

_SUCCESS: Final = range(200, 300)
_CLIENT_ERROR: Final = range(400, 500)
_STATUSES: Final = range(100, 600)
_SERVER_ERROR: Final = 500

_OWN_OPTIONS: Final = frozenset({"key_fn", "fingerprint", "on_missing_key"})
"""Options of @idempotent that idempotent_http sets itself."""

logger = logging.getLogger("idemlock.http")

C = TypeVar("C")
"""The Lambda context's type, whatever the handler declares."""


def default_store_status(status: int) -> bool:
    """Whether a response with ``status`` is stored and replayed: 2xx, 4xx but 408/409/425/429.

    5xx and 429 are never stored, whatever ``store_status=`` says.
    """
    return status in _SUCCESS or (status in _CLIENT_ERROR and status not in _NEVER_STORED)


class _NotStored(Exception):
    """Raised inside the protected body so that @idempotent frees the key; never escapes."""

    def __init__(self, response: object, status: int | None) -> None:
        super().__init__(f"a response with status {status} is not stored; the key was freed")
        self.response = response


class _Call:
    """One request on its way through the lock: what the key function and the body see."""

    __slots__ = ("event", "key", "ran", "request")

    def __init__(self, event: object, request: HttpRequest, key: str) -> None:
        self.event = event
        self.request = request
        self.key = key
        self.ran = False  # the handler ran now: its response is not a replay


def idempotent_http(
    *,
    methods: Iterable[str] = DEFAULT_METHODS,
    required: bool = True,
    scope: Callable[[Any], str] | None = None,
    store_status: Callable[[int], bool] = default_store_status,
    **options: Any,
) -> Callable[[Callable[[Any, C], object]], Callable[[Any, C], Any]]:
    """Make a Lambda handler that answers HTTP idempotent per ``Idempotency-Key`` header.

    Args:
        methods: the methods that need a key (default ``POST`` and ``PATCH``); requests with
            any other method run the handler unprotected and unchanged.
        required: ``False`` lets a protected method without a key run unprotected (logged as
            a warning); by default it gets a 400.
        scope: called with the event, returns who the caller is; replaces the identity read
            from the authorizer (JWT ``sub``, ``principalId``, IAM caller, API key, ALB OIDC).
            The method and route always scope the key too.
        store_status: called with a status code, says whether that response is stored and
            replayed (default :func:`default_store_status`). 5xx and 429 never are.
        options: every option of :func:`idemlock.idempotent` (``store``, ``namespace``,
            ``lease``, ``retention``, ``on_event``, ``heartbeat``, ...), but ``key_fn``,
            ``fingerprint`` and ``on_missing_key``, which this decorator sets.
            ``on_unstorable_result`` defaults to ``"omit"``: a response too large to store
            completes the key all the same, and its retries get a 409 saying so.

    """
    protected = _check_methods(methods)
    if not isinstance(required, bool):
        raise ConfigurationError(f"required must be True or False, got {required!r}")
    _check_options(options, scope, store_status)
    settings = _Settings(protected, required, scope, store_status, options)

    def decorate(handler: Callable[[Any, C], object]) -> Callable[[Any, C], Any]:
        if not callable(handler) or inspect.iscoroutinefunction(handler):
            raise ConfigurationError(
                f"@idempotent_http decorates a Lambda handler (a plain def), got {handler!r}"
            )
        run = _protect(settings, handler)

        @functools.wraps(handler)
        def wrapper(event: Any, context: C) -> Any:
            with serving((context,), {}):  # also when the request runs unprotected
                return _respond(settings, handler, run, event, context)

        return wrapper

    return decorate


class _Settings(NamedTuple):
    """What one ``idempotent_http(...)`` said, checked."""

    protected: frozenset[str]
    required: bool
    scope: Callable[[Any], str] | None
    store_status: Callable[[int], bool]
    options: dict[str, Any]

    @property
    def clock(self) -> Callable[[], float]:
        clock: Callable[[], float] = self.options.get("clock", time.time)
        return clock


def _protect(settings: _Settings, handler: Callable[[Any, Any], object]) -> Callable[..., Any]:
    """``handler`` under ``@idempotent``, keyed by the scoped header, its request fingerprinted.

    A response that must not be stored leaves as :class:`_NotStored`, which frees the key.
    """

    def body(call: _Call, context: object) -> object:
        call.ran = True
        response = handler(call.event, context)
        status = _status(response, call.request)
        if status is None or not _stored(status, settings.store_status):
            raise _NotStored(response, status)
        return response

    options = settings.options
    return idempotent(
        lambda call, context: call.key,
        fingerprint=lambda call, context: call.request.fingerprint(),
        # A response too large to store still completes the key: the handler ran, so a
        # retry must not run it again (it gets 409 idempotency-response-not-kept).
        **{
            "on_unstorable_result": "omit",
            **options,
            "namespace": options.get("namespace") or default_namespace(handler),
        },
    )(body)


def _respond(
    settings: _Settings,
    handler: Callable[[Any, C], object],
    run: Callable[..., Any],
    event: Any,
    context: C,
) -> Any:
    """One request: unprotected, refused (400), or answered through the lock."""
    request = parse_request(event)  # not HTTP: EventError, the handler does not run
    if request.method not in settings.protected:
        return handler(event, context)
    try:
        key = idempotency_key(request)
    except EventError as exc:
        return _problem(request, "idempotency-key-invalid", str(exc))
    if key is None:
        if settings.required:
            return _problem(request, "idempotency-key-missing", _missing(request))
        logger.warning(
            "%s %s without an %s header: running unprotected (required=False)",
            request.method,
            request.path,
            IDEMPOTENCY_KEY_HEADER,
        )
        return handler(event, context)
    call = _Call(event, request, _scoped(request, key, settings.scope, event))
    return _answer(run, call, context, settings.clock)


def _missing(request: HttpRequest) -> str:
    """The detail of a 400 for a protected request without a key: what to send."""
    return (
        f"{request.method} {request.route} needs an {IDEMPOTENCY_KEY_HEADER} header, e.g. "
        'Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"'
    )


def _answer(
    run: Callable[[_Call, Any], object], call: _Call, context: Any, clock: Callable[[], float]
) -> Any:
    """The protected call's response, or the problem that stands for it."""
    request = call.request
    try:
        response = run(call, context)
    except _NotStored as not_stored:
        logger.info("%s %s: %s", request.method, request.path, not_stored)
        return not_stored.response
    except (PayloadMismatchError, InProgressError, OutcomeUnknownError) as refused:
        return _refused(request, refused, clock)
    if call.ran:
        return response
    if response is None:
        # Completed, but its response was too large to keep: the request must not run again,
        # and there is nothing to replay.
        return _problem(
            request,
            "idempotency-response-not-kept",
            "the first request with this key completed, but its response was too large to "
            "store; read the resource's current state instead of retrying",
        )
    return _replayed(response, request)


def _refused(
    request: HttpRequest,
    refused: PayloadMismatchError | InProgressError | OutcomeUnknownError,
    clock: Callable[[], float],
) -> dict[str, Any]:
    """The problem that answers a request the lock refused to run."""
    if isinstance(refused, PayloadMismatchError):
        return _problem(
            request,
            "idempotency-key-reused",
            f"this {IDEMPOTENCY_KEY_HEADER} was sent before with another method, path, query "
            "or body; use a new key for a new request",
        )
    if isinstance(refused, OutcomeUnknownError):
        return _problem(
            request,
            "idempotency-outcome-unknown",
            f"the first request with this {IDEMPOTENCY_KEY_HEADER} stopped before it finished, "
            "and whether it took effect is being checked; retry later with the same key to get "
            "its outcome, never with a new key",
        )
    wait_s = max(1, math.ceil(refused.lease_expires_at_ms / 1000 - clock()))
    return _problem(
        request,
        "idempotency-key-in-use",
        f"the first request with this {IDEMPOTENCY_KEY_HEADER} has not finished; retry "
        "after the time in Retry-After to get its response",
        retry_after_s=wait_s,
    )


def _check_methods(methods: Iterable[str]) -> frozenset[str]:
    if isinstance(methods, str) or not isinstance(methods, Iterable):
        raise ConfigurationError(
            f'methods must be a collection of method names, e.g. {{"POST"}}, got {methods!r}'
        )
    checked = frozenset(methods)
    bad = sorted(repr(method) for method in checked if not isinstance(method, str) or not method)
    if bad:
        raise ConfigurationError(f"methods must be non-empty strings, got {', '.join(bad)}")
    return frozenset(method.upper() for method in checked)


def _check_options(
    options: Mapping[str, Any],
    scope: Callable[[Any], str] | None,
    store_status: Callable[[int], bool],
) -> None:
    """Only @idempotent's own options, but those this decorator sets; callables callable."""
    known = set(IdempotentOptions.__annotations__) - _OWN_OPTIONS
    for name in options:
        if name in _OWN_OPTIONS:
            raise ConfigurationError(
                f"idempotent_http sets {name} itself (the key is the {IDEMPOTENCY_KEY_HEADER} "
                "header, scoped; the fingerprint is the method, path, query and body); use "
                "scope= for the caller's identity"
            )
        if name not in known:
            raise ConfigurationError(
                f"idempotent_http got an unknown option {name!r}; it takes methods, required, "
                f"scope, store_status and {', '.join(sorted(known))}"
            )
    if options.get("store_result") is False:
        raise ConfigurationError(
            "idempotent_http replays the stored response: store_result=False would leave "
            "nothing to answer a retry with"
        )
    if scope is not None and not callable(scope):
        raise ConfigurationError(f"scope must be callable, got {type(scope).__name__}")
    if not callable(store_status):
        raise ConfigurationError(
            f"store_status must be callable, got {type(store_status).__name__}"
        )


def _scoped(
    request: HttpRequest, key: str, scope: Callable[[Any], str] | None, event: object
) -> str:
    """The key as the lock sees it: method, route, caller and the client's key, unambiguous.

    A JSON array, so no caller can spell another's scope inside its own key (a ``principalId``
    may contain any separator).
    """
    identity = request.identity
    if scope is not None:
        identity = scope(event)
        if not isinstance(identity, str) or not identity:
            raise InvalidKeyError(
                f"scope must return a non-empty string naming the caller, got {identity!r:.60}",
                function=getattr(scope, "__qualname__", None),
            )
    return json.dumps(
        [request.method, request.route, identity, key], ensure_ascii=False, separators=(",", ":")
    )


def _status(response: object, request: HttpRequest) -> int | None:
    """The status a response will have; ``None`` if it is no valid Lambda HTTP response."""
    if isinstance(response, Mapping) and "statusCode" in response:
        status = response["statusCode"]
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        if isinstance(status, int) and not isinstance(status, bool) and status in _STATUSES:
            return status
    elif request.kind in ("api-gateway-http", "function-url") and response is not None:
        return 200  # payload 2.0: any other JSON value is a 200 whose body it is
    logger.warning(
        "%s %s: the handler returned no valid statusCode (%r); not stored, the key was freed",
        request.method,
        request.path,
        response if not isinstance(response, Mapping) else response.get("statusCode"),
    )
    return None


def _stored(status: int, store_status: Callable[[int], bool]) -> bool:
    if status >= _SERVER_ERROR or status == HTTPStatus.TOO_MANY_REQUESTS:
        # A server error or a rate limit tells of the server's state, not of the request: the
        # retry must run again, never replay it (whatever store_status= says).
        return False
    return bool(store_status(status))


def _problem(
    request: HttpRequest, name: str, detail: str, *, retry_after_s: int | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem details response, in the form the request's service expects."""
    status, title = _PROBLEMS[name]
    headers = {"Content-Type": "application/problem+json"}
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    problem = {"type": PROBLEM_TYPES + name, "title": title, "status": status, "detail": detail}
    response: dict[str, Any] = {
        "statusCode": status,
        "body": json.dumps(problem),
        "isBase64Encoded": False,
    }
    if request.kind == "alb":
        response["statusDescription"] = f"{status} {HTTPStatus(status).phrase}"
    if request.multi_value:
        response["multiValueHeaders"] = {header: [value] for header, value in headers.items()}
    else:
        response["headers"] = headers
    return response


def _replayed(response: object, request: HttpRequest) -> dict[str, Any]:
    """The stored response marked ``Idempotent-Replayed: true``; the stored value untouched."""
    if not isinstance(response, Mapping) or "statusCode" not in response:
        # Payload 2.0 made a 200 of a bare value; spelled out, so it can carry the header.
        response = {
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": response if isinstance(response, str) else json.dumps(response),
            "isBase64Encoded": False,
        }
    marked = dict(response)
    field = "multiValueHeaders" if request.multi_value else "headers"
    headers = dict(marked.get(field) or {})
    for name in [name for name in headers if name.lower() == REPLAYED_HEADER.lower()]:
        del headers[name]
    headers[REPLAYED_HEADER] = ["true"] if request.multi_value else "true"
    marked[field] = headers
    return marked
