"""Unit tests for :mod:`idemlock.keys`: stored keys, namespaces, key functions, fingerprints."""

from __future__ import annotations

import decimal
import operator
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from idemlock.errors import FingerprintError, IdemlockError, InvalidKeyError, MissingKeyError
from idemlock.keys import call_key_fn, default_namespace, payload_fingerprint, storage_key

DYNAMODB_KEY_LIMIT = 2048
"""DynamoDB's limit on a partition key, in UTF-8 bytes."""

HASH_SUFFIX = re.compile(r"#sha256:[0-9a-f]{64}\Z")


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _key_filling(namespace: str, size: int, char: str = "k") -> str:
    """A key made of ``char`` so that ``namespace#key`` is exactly ``size`` UTF-8 bytes."""
    room = size - _nbytes(f"{namespace}#")
    width = _nbytes(char)
    key = char * (room // width) + "x" * (room % width)
    assert _nbytes(f"{namespace}#{key}") == size
    return key


def _readable_part(stored: str) -> str:
    """What precedes ``#sha256:<hex>`` in a hashed stored key."""
    match = HASH_SUFFIX.search(stored)
    assert match is not None, stored
    return stored[: match.start()]


# --- storage_key -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "key", "expected"),
    [
        ("orders", "abc-123", "orders#abc-123"),
        ("orders", "a#b", "orders#a#b"),
        ("app.handler", "café 😀", "app.handler#café 😀"),
    ],
)
def test_short_key_is_namespace_hash_key_verbatim(namespace: str, key: str, expected: str) -> None:
    """A key within the limit is stored as ``namespace#key``, unchanged."""
    assert storage_key(namespace, key) == expected


@pytest.mark.parametrize("char", ["k", "é", "😀"])
def test_stored_key_of_exactly_2048_bytes_is_kept(char: str) -> None:
    """``namespace#key`` of exactly 2048 UTF-8 bytes is stored verbatim."""
    key = _key_filling("ns", DYNAMODB_KEY_LIMIT, char)
    assert storage_key("ns", key) == f"ns#{key}"


@pytest.mark.parametrize("char", ["k", "é", "😀"])
def test_stored_key_of_2049_bytes_is_hashed(char: str) -> None:
    """``namespace#key`` of 2049 UTF-8 bytes is replaced by a prefix and a SHA-256."""
    key = _key_filling("ns", DYNAMODB_KEY_LIMIT + 1, char)
    stored = storage_key("ns", key)
    assert stored != f"ns#{key}"
    assert HASH_SUFFIX.search(stored)


def test_limit_counts_utf8_bytes_not_characters() -> None:
    """A key under 2048 characters but over 2048 UTF-8 bytes is hashed."""
    key = "é" * 1100  # 1100 characters, 2200 bytes
    stored = storage_key("ns", key)
    assert stored != f"ns#{key}"
    assert _nbytes(stored) <= DYNAMODB_KEY_LIMIT


@pytest.mark.parametrize("size", [2049, 4096, 100_000])
@pytest.mark.parametrize("char", ["k", "é", "€", "😀"])
def test_hashed_key_fits_dynamodb_limit(size: int, char: str) -> None:
    """A hashed key is at most 2048 UTF-8 bytes, however long the original."""
    stored = storage_key("orders", _key_filling("orders", size, char))
    assert _nbytes(stored) <= DYNAMODB_KEY_LIMIT


def test_hashed_key_starts_with_readable_prefix_of_original() -> None:
    """A hashed key begins with the namespace and the start of the original key."""
    key = "order-" + "".join(str(i % 10) for i in range(5000))
    stored = storage_key("orders", key)
    readable = _readable_part(stored)
    assert f"orders#{key}".startswith(readable)
    assert readable.startswith("orders#" + key[:100])


def test_hashed_key_ends_with_sha256_hex() -> None:
    """A hashed key ends with ``sha256:`` and 64 lowercase hex digits."""
    stored = storage_key("orders", "x" * 5000)
    assert re.search(r"sha256:[0-9a-f]{64}\Z", stored)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("orders", "a" * 3000 + "1"), ("orders", "a" * 3000 + "2")),
        (("orders", "1" + "a" * 3000), ("orders", "2" + "a" * 3000)),
        (("orders", "a" * 3000), ("orders", "a" * 3001)),
        (("ns-a", "k" * 3000), ("ns-b", "k" * 3000)),
    ],
)
def test_distinct_long_keys_sharing_a_prefix_stay_distinct(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    """Two different long keys never map to the same stored key."""
    assert storage_key(*first) != storage_key(*second)


def test_same_long_key_hashes_the_same_way_twice() -> None:
    """Hashing is deterministic: the same long key gives the same stored key."""
    key = "payment-" + "é" * 2000
    assert storage_key("payments", key) == storage_key("payments", key)


@pytest.mark.parametrize("shift", range(4))
@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_multibyte_char_cut_at_prefix_boundary_stays_valid_utf8(char: str, shift: int) -> None:
    """Cutting the readable prefix never splits a character or adds replacement chars."""
    # Shifting the multi-byte run by 0..3 bytes makes some shift split a character at any cut.
    key = "x" * shift + char * 3000
    stored = storage_key("ns", key)
    assert "\ufffd" not in stored
    assert stored.encode("utf-8").decode("utf-8") == stored
    readable = _readable_part(stored)
    assert f"ns#{key}".startswith(readable)
    assert readable.endswith(char)


# --- default_namespace -------------------------------------------------------------------------


def module_level_handler(event: object) -> None:
    """A function defined at module level."""


class OrderHandler:
    """A class with a method, for qualified names."""

    def handle(self, event: object) -> None:
        """A method."""


def test_default_namespace_of_module_function() -> None:
    """A module-level function's namespace is ``module.name``."""
    assert default_namespace(module_level_handler) == f"{__name__}.module_level_handler"


def test_default_namespace_of_nested_function() -> None:
    """A nested function's namespace is its module and full qualified name."""

    def inner(event: object) -> None:
        """A nested function."""

    expected = f"{__name__}.test_default_namespace_of_nested_function.<locals>.inner"
    assert default_namespace(inner) == expected


def test_default_namespace_of_method() -> None:
    """A method's namespace includes its class, bound or not."""
    expected = f"{__name__}.OrderHandler.handle"
    assert default_namespace(OrderHandler.handle) == expected
    assert default_namespace(OrderHandler().handle) == expected


# --- call_key_fn -------------------------------------------------------------------------------


def process_order(event: object, context: object = None) -> None:
    """The decorated function whose key is computed."""


def _by_id(event: dict[str, Any], context: object = None) -> object:
    return event["id"]


def _returning(value: object) -> Callable[..., object]:
    def key_fn(*args: object, **kwargs: object) -> object:
        return value

    return key_fn


def _raising(exc: BaseException) -> Callable[..., object]:
    def key_fn(*args: object, **kwargs: object) -> object:
        raise exc

    return key_fn


def test_call_key_fn_returns_the_string_key() -> None:
    """The key function's string result is the key, from positional and keyword arguments."""
    assert call_key_fn(_by_id, process_order, ({"id": "abc"},), {}) == "abc"
    kwargs = {"event": {"id": "def"}, "context": None}
    assert call_key_fn(_by_id, process_order, (), kwargs) == "def"


@pytest.mark.parametrize(("value", "expected"), [(42, "42"), (0, "0"), (-7, "-7")])
def test_call_key_fn_converts_int_to_str(value: int, expected: str) -> None:
    """An int key (zero included) is accepted and converted to its decimal string."""
    key = call_key_fn(_returning(value), process_order, ({},), {})
    assert isinstance(key, str)
    assert key == expected


@pytest.mark.parametrize(
    "value",
    [True, False, {"id": "1"}, {}, ["a"], [], 1.5, 0.0, b"abc", b""],
    ids=repr,
)
def test_call_key_fn_rejects_non_key_types_as_invalid(value: object) -> None:
    """bool, dict, list, float and bytes keys raise InvalidKeyError, not MissingKeyError."""
    with pytest.raises(InvalidKeyError) as info:
        call_key_fn(_returning(value), process_order, ({},), {})
    assert not isinstance(info.value, MissingKeyError)
    assert info.value.function == "process_order"
    assert "process_order" in str(info.value)


@pytest.mark.parametrize("value", [None, ""])
def test_call_key_fn_none_or_empty_is_missing(value: object) -> None:
    """A key function returning None or "" raises MissingKeyError naming the function."""
    with pytest.raises(MissingKeyError) as info:
        call_key_fn(_returning(value), process_order, ({},), {})
    assert info.value.function == "process_order"
    assert "process_order" in str(info.value)


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("order_id"),
        IndexError("list index out of range"),
        TypeError("'NoneType' object is not subscriptable"),
        AttributeError("'NoneType' object has no attribute 'order_id'"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_call_key_fn_lookup_failure_is_missing_key(exc: Exception) -> None:
    """A lookup error inside key_fn becomes MissingKeyError caused by it, naming the function."""
    with pytest.raises(MissingKeyError) as info:
        call_key_fn(_raising(exc), process_order, ({},), {})
    assert info.value.__cause__ is exc
    assert info.value.function == "process_order"
    assert "process_order" in str(info.value)


@pytest.mark.parametrize(
    ("event", "cause"),
    [({"other": 1}, KeyError), (None, TypeError), ([], TypeError)],
    ids=["field-absent", "event-none", "event-list"],
)
def test_call_key_fn_event_without_key_is_missing_key(
    event: object, cause: type[Exception]
) -> None:
    """Subscripting an event that lacks the field raises MissingKeyError caused by the error."""
    with pytest.raises(MissingKeyError) as info:
        call_key_fn(lambda event, context=None: event["id"], process_order, (event,), {})
    assert isinstance(info.value.__cause__, cause)


def test_call_key_fn_builtin_key_fn_type_error_is_missing_key() -> None:
    """A TypeError inside a C-implemented key_fn (itemgetter on None) is a missing key too."""

    def process(order: object) -> None:
        """A one-argument function keyed by ``operator.itemgetter``."""

    with pytest.raises(MissingKeyError) as info:
        call_key_fn(operator.itemgetter("order_id"), process, (None,), {})
    assert isinstance(info.value.__cause__, TypeError)


def test_call_key_fn_value_error_propagates_unchanged() -> None:
    """A ValueError raised inside key_fn is re-raised as is, not wrapped."""
    error = ValueError("bad key format")
    with pytest.raises(ValueError, match="bad key format") as info:
        call_key_fn(_raising(error), process_order, ({},), {})
    assert info.value is error
    assert not isinstance(info.value, IdemlockError)


# --- payload_fingerprint -----------------------------------------------------------------------


def _identity(payload: object) -> object:
    return payload


def _fingerprint(payload: object) -> str:
    return payload_fingerprint(_identity, (payload,), {})


def test_fingerprint_ignores_dict_key_order() -> None:
    """Dicts with the same items in a different order have the same fingerprint."""
    first = {"a": 1, "b": {"x": [1, 2], "y": "z"}}
    second = {"b": {"y": "z", "x": [1, 2]}, "a": 1}
    assert _fingerprint(first) == _fingerprint(second)


def test_fingerprint_is_stable_across_calls() -> None:
    """The same payload fingerprints the same way twice."""
    assert _fingerprint({"amount": 10}) == _fingerprint({"amount": 10})


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"a": 1}, {"a": 2}),
        ({"a": 1}, {"a": "1"}),
        ({"a": 1}, {"b": 1}),
        ([1, 2], [2, 1]),
        ({"a": 1}, {"a": 1, "b": None}),
    ],
)
def test_fingerprint_differs_for_different_payloads(first: object, second: object) -> None:
    """Different payloads have different fingerprints."""
    assert _fingerprint(first) != _fingerprint(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (decimal.Decimal("1.5"), decimal.Decimal("2.5")),
        ({1, 2}, {1, 3}),
        (frozenset({"a"}), frozenset({"b"})),
        (b"\x00\x01", b"\x00\x02"),
        (bytearray(b"a"), bytearray(b"b")),
    ],
    ids=["Decimal", "set", "frozenset", "bytes", "bytearray"],
)
def test_fingerprint_accepts_dynamodb_value_types(first: object, second: object) -> None:
    """Decimal, set and bytes values are fingerprinted, and by their content."""
    assert isinstance(_fingerprint({"v": first}), str)
    assert _fingerprint({"v": first}) != _fingerprint({"v": second})


def _fingerprint_in_subprocess(hash_seed: str) -> str:
    code = (
        "from idemlock.keys import payload_fingerprint\n"
        "tags = {f'tag-{i}' for i in range(50)}\n"
        "print(payload_fingerprint(lambda e: e, ({'tags': tags, 'ids': frozenset(tags)},), {}))\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_fingerprint_of_set_does_not_depend_on_hash_seed() -> None:
    """A set's fingerprint is the same in every process, whatever its iteration order."""
    assert _fingerprint_in_subprocess("1") == _fingerprint_in_subprocess("2")


@pytest.mark.parametrize(
    "payload",
    [object(), {"v": object()}, float("nan"), {"v": float("inf")}],
    ids=["object", "nested-object", "nan", "inf"],
)
def test_fingerprint_of_non_json_value_raises_fingerprint_error(payload: object) -> None:
    """A value with no canonical JSON form raises FingerprintError with a cause."""
    with pytest.raises(FingerprintError) as info:
        _fingerprint(payload)
    assert info.value.__cause__ is not None


def test_fingerprint_fn_raising_key_error_raises_fingerprint_error() -> None:
    """A fingerprint function that fails a lookup raises FingerprintError caused by it."""

    def by_body(event: dict[str, Any]) -> object:
        return event["body"]

    with pytest.raises(FingerprintError) as info:
        payload_fingerprint(by_body, ({"id": 1},), {})
    assert isinstance(info.value.__cause__, KeyError)
