"""Results as stored: strict JSON, a store's size limit, what is deferred work; and back.

Units of ``idemlock._results``, with no store call. The same rules through a decorated function
are in ``test_edges.py`` and ``test_bad_input.py``.
"""

from __future__ import annotations

import threading
from typing import cast

from idemlock._results import close_unrun, decode, deferred, encode
from idemlock.errors import UnstorableResultError
from idemlock.store import LockStore
from idemlock.testing import MemoryStore


class SmallStore:
    """What encode reads of a store stating a 10-byte limit, which stores half of its text."""

    max_result_bytes = 10

    @staticmethod
    def stored_result_bytes(result: str) -> int:
        return len(result) // 2


def test_results_encode_as_strict_compact_json_and_decode_back() -> None:
    """Compact separators, text kept as text; decode gives the value back (None for none)."""
    store = MemoryStore()
    assert encode({"a": [1, "é"]}, "k", store) == '{"a":[1,"é"]}'
    assert encode(None, "k", store) == "null"
    assert decode('{"a":[1,"é"]}') == {"a": [1, "é"]}
    assert decode("null") is None
    assert decode(None) is None


def test_what_json_cannot_write_exactly_is_unstorable() -> None:
    """NaN, objects, non-string dict keys (at any depth) and lone surrogates are refused."""
    store = MemoryStore()
    for value in (float("nan"), object(), {1: "a"}, [{"x": {None: 1}}], "\udce9"):
        error = encode(value, "ns#k", store)
        assert isinstance(error, UnstorableResultError), value
        assert error.key == "ns#k"


def test_a_stores_limit_counts_the_result_as_stored() -> None:
    """Over the limit as text but under it as stored: storable; over it as stored: refused."""
    store = cast(LockStore, SmallStore())
    assert encode("x" * 15, "k", store) == '"' + "x" * 15 + '"'
    refused = encode("x" * 30, "k", store)
    assert isinstance(refused, UnstorableResultError)
    assert "over the 10-byte limit" in refused.reason


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
