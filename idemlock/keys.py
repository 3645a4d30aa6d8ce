"""Turning a function's arguments into the key stored in the lock table.

The stored key is ``namespace#key``. DynamoDB refuses partition keys over 2048 bytes, so a
longer key is replaced by a readable prefix plus the SHA-256 of the whole key: distinct keys
stay distinct, and an operator still recognises the item.
"""

from __future__ import annotations

import base64
import decimal
import hashlib
import inspect
import json
from collections.abc import Callable
from typing import Any

from idemlock.errors import (
    ConfigurationError,
    FingerprintError,
    InvalidKeyError,
    MissingKeyError,
)

MAX_KEY_BYTES = 2048
"""DynamoDB's limit on a partition key value, in UTF-8 bytes."""

READABLE_PREFIX_BYTES = 512
"""How much of an over-long key is kept, readable, in front of its hash."""

SEPARATOR = "#"


def default_namespace(function: Callable[..., Any]) -> str:
    """The namespace of a function that was given none: its module and qualified name.

    Renaming or moving the function changes it, so pass ``namespace=`` in production.
    """
    module = getattr(function, "__module__", None) or "__main__"
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", "function")
    return f"{module}.{name}"


def storage_key(namespace: str, key: str) -> str:
    """The key as stored: ``namespace#key``, hashed with a readable prefix when too long."""
    full = f"{namespace}{SEPARATOR}{key}"
    encoded = full.encode("utf-8")
    if len(encoded) <= MAX_KEY_BYTES:
        return full
    digest = hashlib.sha256(encoded).hexdigest()
    # Cut on a character boundary: errors="ignore" drops a split multi-byte tail.
    prefix = encoded[:READABLE_PREFIX_BYTES].decode("utf-8", errors="ignore")
    return f"{prefix}{SEPARATOR}sha256:{digest}"


def call_key_fn(
    key_fn: Callable[..., object],
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> str:
    """Call ``key_fn`` with ``function``'s arguments and validate what it returns.

    A lookup that fails inside ``key_fn`` (``event["order_id"]`` on an event without it) means
    the event has no key: :class:`MissingKeyError`, with the original error as its cause.
    """
    function_name = getattr(function, "__qualname__", repr(function))
    try:
        key = key_fn(*args, **kwargs)
    except (LookupError, TypeError, AttributeError) as exc:
        if isinstance(exc, TypeError) and _binding_error(key_fn, args, kwargs):
            # Not a missing field: the call itself failed. Either the caller passed arguments
            # the function does not take (their TypeError, as the function would raise it), or
            # key_fn's parameters differ from the function's (a configuration error).
            caller_error = _binding_error(function, args, kwargs)
            if caller_error:
                raise TypeError(f"{function_name}(): {caller_error}") from None
            raise ConfigurationError(
                f"the key function of {function_name} cannot take that function's "
                f"arguments ({exc}); give it the same parameters as the function"
            ) from exc
        raise MissingKeyError(
            f"the key function of {function_name} found no key: {type(exc).__name__}: {exc}",
            function=function_name,
        ) from exc
    if key is None or key == "":
        raise MissingKeyError(
            f"the key function of {function_name} returned {key!r}; an idempotency key must be "
            "a non-empty string",
            function=function_name,
        )
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise InvalidKeyError(
            f"the key function of {function_name} returned a {type(key).__name__}; it must "
            "return a str (or an int)",
            function=function_name,
        )
    return str(key)


def _binding_error(
    callable_: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str | None:
    """Why these arguments do not fit the callable's parameters, or ``None``.

    ``None`` also when the callable has no signature to check, such as ``operator.itemgetter``.
    """
    try:
        signature = inspect.signature(callable_)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        return str(exc)
    return None


def payload_fingerprint(
    fingerprint_fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    """SHA-256 of the canonical JSON of what ``fingerprint_fn`` returns for these arguments."""
    try:
        value = fingerprint_fn(*args, **kwargs)
        canonical = json.dumps(
            value,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_canonical_default,
        )
    except (LookupError, TypeError, AttributeError, ValueError) as exc:
        raise FingerprintError(
            f"the payload fingerprint could not be computed: {type(exc).__name__}: {exc}"
        ) from exc
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _canonical_default(value: object) -> object:
    """Encode the non-JSON types that events commonly carry (DynamoDB numbers, sets, binary)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
