"""A body's result as stored, and back: :func:`encode` and :func:`decode`, and what cannot be.

Results are strict, compact JSON text. A store may state a size limit; a result over it, or one
that JSON cannot write exactly, is unstorable. A result that is deferred work (a coroutine, an
iterator) is not a result yet: :func:`deferred` tells it, :func:`close_unrun` discards it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from idemlock.errors import UnstorableResultError

if TYPE_CHECKING:
    from idemlock.store import LockStore

_JSON: Final = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))
"""Strict, compact JSON."""

_CONTAINERS: Final = (dict, list, tuple)
"""What JSON encodes with members: where a dict with a non-string key can hide."""

_NO_KEY: Final[Any] = object()


def encode(value: object, key: str, store: LockStore) -> str | UnstorableResultError:
    """The result as stored, or why it cannot be.

    A store may state a ``max_result_bytes`` limit, and ``stored_result_bytes(text)`` when it
    stores less than the text (DynamoDB compresses large results): only a result over the limit
    as stored is unstorable.
    """
    try:
        text = _JSON.encode(value)
        size = len(text.encode("utf-8"))  # a lone surrogate in a str is not UTF-8
    except (TypeError, ValueError, RecursionError) as exc:
        error = UnstorableResultError(key, f"it is not JSON-serialisable ({exc})")
        error.__cause__ = exc
        return error
    limit: int | None = getattr(store, "max_result_bytes", None)
    if limit is not None and size > limit:
        measure = getattr(store, "stored_result_bytes", None)
        stored = size if measure is None else measure(text)
        if stored > limit:
            return UnstorableResultError(
                key, f"its JSON is {size} bytes ({stored} as stored), over the {limit}-byte limit"
            )
    if isinstance(value, _CONTAINERS):
        bad = _non_str_key(value)
        if bad is not _NO_KEY:
            # JSON writes 1, 1.0, True and None as "1", "1.0", "true", "null": the replay would
            # differ, and {1: "a", "1": "b"} would lose an entry. Strict JSON, no coercion.
            return UnstorableResultError(
                key, f"its dict key {bad!r} is not a string (JSON would store it as text)"
            )
    return text


def decode(result: str | None) -> Any:
    """The value of a stored result (``None`` when none was stored)."""
    if result is None:
        return None
    try:
        return json.loads(result)
    except RecursionError:
        # Stored from a shallow stack, replayed from a deep one: decode on a fresh thread,
        # whose stack is as shallow as the one that encoded it.
        with ThreadPoolExecutor(max_workers=1) as fresh_stack:
            return fresh_stack.submit(json.loads, result).result()


def _non_str_key(value: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> Any:
    """The first dict key in ``value`` that is not a ``str``; ``_NO_KEY`` when there is none.

    Called after the value encoded, so it has no cycles. A loop over a stack, not recursion: a
    result nested deeper than the recursion limit encodes (the C encoder) and must be walked.
    """
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for member_key, member in item.items():
                if not isinstance(member_key, str):
                    return member_key
                if isinstance(member, _CONTAINERS):
                    stack.append(member)
        else:
            stack.extend(member for member in item if isinstance(member, _CONTAINERS))
    return _NO_KEY


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
