"""A body's result as a store keeps it, and back; and what is not a result yet.

The typed JSON itself is :mod:`idemlock._codec`'s. Here: :func:`encode` adds the store's size
limit; a result that cannot be stored is replaced by :func:`unstored` (a marker naming why, so
the key completes and never runs twice); :func:`replay` reads either back for a duplicate. A
result that is deferred work (a coroutine, an iterator) is not a result yet: :func:`deferred`
tells it, :func:`close_unrun` discards it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import TYPE_CHECKING, Any, Final

from idemlock._codec import (
    TAG,
    check_storable_type,
    decode_result,
    encode_result,
    result_type_of,
)
from idemlock.errors import ResultNotStoredError, UnreadableResultError, UnstorableResultError

if TYPE_CHECKING:
    from collections.abc import Callable

    from idemlock.store import LockStore

logger = logging.getLogger("idemlock")

UNSTORED: Final = "unstorable"
"""The marker's tag: ``{"__idemlock__": "unstorable", "v": reason}`` stands in for a result
that could not be stored. The codec writes a returned dict of that shape as a ``dict`` tag, so
no result is ever mistaken for it."""

_MARKER_PREFIX: Final = json.dumps({TAG: UNSTORED}, separators=(",", ":"))[:-1]
"""How every marker's text starts (compact JSON, tag first): a result that does not start so
is no marker, found without parsing it."""

_REASON_CHARS: Final = 1000
"""The longest reason a marker keeps (a path through a result can be long)."""


def encode(value: object, key: str, store: LockStore, result_type: object = None) -> str:
    """The result as stored, or :class:`UnstorableResultError` saying why it cannot be.

    A store may state a ``max_result_bytes`` limit, and ``stored_result_bytes(text)`` when it
    stores less than the text (DynamoDB compresses large results): only a result over the limit
    as stored is unstorable.
    """
    text = encode_result(value, key=key, result_type=result_type)
    limit: int | None = getattr(store, "max_result_bytes", None)
    if limit is not None:
        size = len(text.encode("utf-8"))
        if size > limit:
            measure = getattr(store, "stored_result_bytes", None)
            stored = size if measure is None else measure(text)
            if stored > limit:
                why = f"its JSON is {size} bytes ({stored} as stored), over the {limit}-byte limit"
                raise UnstorableResultError(key, why)
    return text


def unstored(reason: str) -> str:
    """The marker stored instead of a result that could not be stored, with the reason."""
    # ASCII: a reason quoting a lone surrogate must still be valid UTF-8 once stored.
    return json.dumps({TAG: UNSTORED, "v": reason[:_REASON_CHARS]}, separators=(",", ":"))


def unstored_reason(text: str | None) -> str | None:
    """Why the result was not stored, when ``text`` is the marker; else ``None``."""
    if text is None or not text.startswith(_MARKER_PREFIX):
        return None
    try:
        marker = json.loads(text)
    except ValueError:
        return None  # not our marker after all: decoding it says what it is
    reason = marker.get("v") if isinstance(marker, dict) and len(marker) == 2 else None  # noqa: PLR2004
    return reason if isinstance(reason, str) else None


def replay(text: str | None, key: str, *, result_type: object, omit_unstorable: bool) -> Any:
    """What a duplicate returns: the stored result rebuilt as ``result_type``.

    A key completed without its result (the marker) raises :class:`ResultNotStoredError`, or
    returns ``None`` under ``on_unstorable_result="omit"``: either way its body never runs
    again. A result that cannot be read raises :class:`UnreadableResultError`.
    """
    reason = unstored_reason(text)
    if reason is None:
        return decode_result(text, result_type, key=key)
    if omit_unstorable:
        return None
    raise ResultNotStoredError(key, reason)


def unreadable(text: str | None, key: str) -> UnreadableResultError | None:
    """Why a stored result cannot be read back (as the CLI lists it), or ``None``."""
    if unstored_reason(text) is not None:
        return None
    try:
        decode_result(text, key=key)
    except UnreadableResultError as exc:
        return exc
    return None


def result_type_for(function: Callable[..., object], given: object, *, stored: bool) -> Any:
    """What ``function``'s results replay as: ``result_type=`` if ``given``, else its annotation.

    Logs a WARNING, once at decoration, when that type can never be stored (``stored``: the
    function stores its results): every call would complete without its result.
    """
    result_type = result_type_of(function) if given is None else given
    reason = check_storable_type(result_type)
    if reason is not None and stored:
        logger.warning(
            "%s is annotated to return what cannot be stored (%s): every call completes its "
            "key without its result, and a duplicate gets ResultNotStoredError; return a "
            "storable value, or pass store_result=False",
            getattr(function, "__qualname__", repr(function)),
            reason,
        )
    return result_type


def deferred(value: object) -> str | None:
    """What kind of deferred work ``value`` is (an awaitable, an iterator), else ``None``."""
    if isinstance(value, Awaitable):
        return "an awaitable"
    if isinstance(value, AsyncIterator):
        return "an async iterator"
    if isinstance(value, Iterator):
        return "an iterator"
    return None


def close_unrun(work: object) -> None:
    """Close refused deferred work (a coroutine, a generator) so it never runs, nor warns."""
    close = getattr(work, "close", None)
    if callable(close):
        close()
