"""Results as stored: a store's size limit, the "not stored" marker, deferred work; and back.

Units of ``idemlock._results``, with no store call (the typed JSON itself: ``test_codec.py``).
The same rules through a decorated function are in ``test_edges.py`` and ``test_bad_input.py``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import pytest

from idemlock._results import (
    close_unrun,
    deferred,
    encode,
    replay,
    result_type_for,
    unreadable,
    unstored,
    unstored_reason,
)
from idemlock.errors import (
    ResultNotStoredError,
    UnreadableResultError,
    UnstorableResultError,
    UnstorableValueError,
)
from idemlock.store import LockStore
from idemlock.testing import MemoryStore


class SmallStore:
    """What encode reads of a store stating a 10-byte limit, which stores half of its text."""

    max_result_bytes = 10

    @staticmethod
    def stored_result_bytes(result: str) -> int:
        return len(result) // 2


@dataclass
class Order:
    id: str


def decode(text: str | None) -> object:
    return replay(text, "k", result_type=None, omit_unstorable=False)


def test_results_encode_as_strict_compact_json_and_decode_back() -> None:
    """Compact separators, text kept as text; decode gives the value back (None for none)."""
    store = MemoryStore()
    assert encode({"a": [1, "é"]}, "k", store) == '{"a":[1,"é"]}'
    assert encode(None, "k", store) == "null"
    assert decode('{"a":[1,"é"]}') == {"a": [1, "é"]}
    assert decode("null") is None
    assert decode(None) is None


def test_a_value_without_a_stored_form_is_unstorable() -> None:
    """Objects, lone surrogates and circular lists are refused, naming where they sit."""
    store = MemoryStore()
    circular: list[object] = []
    circular.append(circular)
    for value in (object(), {"a": ["\udce9"]}, circular, [1, {"x": {1j}}]):
        with pytest.raises(UnstorableValueError) as caught:
            encode(value, "ns#k", store)
        assert caught.value.key == "ns#k"
        assert caught.value.path.startswith("result")


def test_a_stores_limit_counts_the_result_as_stored() -> None:
    """Over the limit as text but under it as stored: storable; over it as stored: refused."""
    store = cast(LockStore, SmallStore())
    assert encode("x" * 15, "k", store) == '"' + "x" * 15 + '"'
    with pytest.raises(UnstorableResultError, match="over the 10-byte limit"):
        encode("x" * 30, "k", store)


def test_the_not_stored_marker_replays_as_an_error_or_none_never_as_a_value() -> None:
    """The marker carries the reason; a duplicate gets ResultNotStoredError, or None (omit)."""
    marker = unstored("its JSON is 500000 bytes")
    assert unstored_reason(marker) == "its JSON is 500000 bytes"
    with pytest.raises(ResultNotStoredError, match="500000 bytes") as caught:
        decode(marker)
    assert caught.value.reason == "its JSON is 500000 bytes"
    assert isinstance(caught.value, UnstorableResultError)
    assert replay(marker, "k", result_type=None, omit_unstorable=True) is None
    assert unreadable(marker, "k") is None


def test_a_returned_dict_shaped_like_the_marker_replays_as_that_dict() -> None:
    """A result can never be mistaken for the marker: the codec writes it as a dict tag."""
    shaped = {"__idemlock__": "unstorable", "v": "not a reason"}
    text = encode(shaped, "k", MemoryStore())
    assert unstored_reason(text) is None
    assert decode(text) == shaped


def test_a_long_reason_is_cut_and_the_marker_is_ascii() -> None:
    """The marker stays small and valid UTF-8 whatever the reason holds."""
    marker = unstored("\udce9" + "x" * 5000)
    assert marker.isascii()
    assert len(marker) < 1100
    reason = unstored_reason(marker)
    assert reason is not None
    assert reason.startswith("\udce9x")


def test_an_unreadable_result_is_told_not_raised() -> None:
    """What the CLI lists: the reason text cannot be read, or None when it can."""
    assert unreadable('{"a": 1}', "k") is None
    assert unreadable(None, "k") is None
    problem = unreadable("not json", "k")
    assert isinstance(problem, UnreadableResultError)
    assert "not JSON" in problem.reason


def test_a_return_annotation_that_can_never_be_stored_warns_at_decoration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`-> Iterator[int]` warns (naming the function); a storable annotation does not."""

    def stream() -> Iterator[int]:
        return iter([])

    def order() -> Order:
        return Order("o")

    with caplog.at_level(logging.WARNING, logger="idemlock"):
        assert result_type_for(order, None, stored=True) is Order
        assert caplog.messages == []
        result_type_for(stream, None, stored=True)
        result_type_for(stream, None, stored=False)
    assert len(caplog.messages) == 1
    assert "stream" in caplog.messages[0]
    assert "cannot be stored" in caplog.messages[0]
    assert result_type_for(stream, Order, stored=True) is Order


def test_a_result_deeper_than_the_stack_decodes_on_a_fresh_one() -> None:
    """A result encoded from a shallow stack replays from a deep one."""
    text = "[" * 900 + "]" * 900
    found: list[object] = []

    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        else:
            found.append(decode(text))

    thread = threading.Thread(target=deep, args=(200,))
    thread.start()
    thread.join()
    assert len(found) == 1
    assert isinstance(found[0], list)


def test_deferred_work_is_told_and_closed_unrun() -> None:
    """Awaitables and iterators are deferred work; closing one never runs it (nor warns)."""
    ran: list[str] = []

    async def work() -> None:
        ran.append("ran")

    coroutine = work()
    assert deferred(coroutine) == "an awaitable"
    assert deferred(iter([])) == "an iterator"
    assert deferred(x for x in "ab") == "an iterator"
    assert deferred([1, 2]) is None
    assert deferred({"a": 1}) is None
    close_unrun(coroutine)
    assert ran == []
