"""Unit tests for idemlock._codec: results stored as readable tagged JSON and replayed as returned.

pydantic v2 is installed in the development environment: the model tests use it, and a small
duck-typed class (``FakeModel``) shows the same path without pydantic.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import math
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, ClassVar, NamedTuple, NewType, Optional, Protocol, TypedDict
from zoneinfo import ZoneInfo

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from idemlock._codec import (
    _JSON,
    TAG,
    _Walk,
    check_storable_type,
    decode_result,
    encode_result,
    result_type_of,
)
from idemlock.errors import UnreadableResultError, UnstorableResultError, UnstorableValueError
from idemlock.store import Claim
from tests.aws import fresh_table

KEY = "orders#o-1"


def round_trip(value: object, result_type: object = None) -> Any:
    return decode_result(
        encode_result(value, key=KEY, result_type=result_type), result_type, key=KEY
    )


def short(value: object) -> str:
    """A test id, the same in every process (pytest-xdist's workers must agree).

    The repr cut short, a set's members sorted, an object's address left out; a 5,000-digit
    int has no repr: its type then.
    """
    if isinstance(value, (set, frozenset)):
        return f"{type(value).__name__}({sorted(map(short, value))})"[:60]
    try:
        text = repr(value)
    except ValueError:
        return type(value).__name__
    return re.sub(r" at 0x[0-9a-f]+", "", text)[:60]


def old_text(value: object) -> str:
    """What idemlock wrote before tags: strict, compact JSON."""
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


# --- plain JSON: written and read as before ----------------------------------------------------

PLAIN: list[object] = [
    None,
    0,
    "",
    [],
    {},
    False,
    True,
    0.5,
    -1.25e-300,
    10**40,
    "ünïcødé ✓",
    {"a": [1, None, True, "x"], "nested": {"deeper": [{"k": "v"}]}},
    {"__idemlock__": "decimal", "other": 1},  # the tag key, but not a tag's shape
    {"v": 1},
    {"__idemlock__": "x"},
]


@pytest.mark.parametrize("value", PLAIN, ids=short)
def test_plain_json_is_written_exactly_as_before(value: object) -> None:
    """A plain JSON result is stored byte for byte as idemlock stored it before tags existed."""
    assert encode_result(value, key=KEY) == old_text(value)


@pytest.mark.parametrize("value", PLAIN, ids=short)
def test_items_written_before_tags_read_back_as_before(value: object) -> None:
    """An item written by an earlier version decodes to what it decoded to then."""
    text = old_text(value)
    replayed = decode_result(text, key=KEY)
    assert replayed == json.loads(text)
    assert type(replayed) is type(json.loads(text))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
).filter(lambda value: "\ud800" not in json.dumps(value))


@given(json_values)
def test_any_plain_json_is_written_as_before_and_reads_back(value: object) -> None:
    """Any JSON value (that is not tag-shaped) is stored as before and replays equal."""
    try:
        expected = old_text(value)
        expected.encode("utf-8")
    except UnicodeEncodeError:
        return  # a lone surrogate was never storable: see the error tests
    if TAG in expected:
        return  # tag-shaped dicts are escaped: see the collision tests
    assert encode_result(value, key=KEY) == expected
    assert decode_result(expected, key=KEY) == value


@given(json_values)
def test_the_plain_path_writes_what_the_walk_writes(value: object) -> None:
    """Plain JSON takes json's encoder directly: its text is the text the full walk writes."""
    try:
        text = encode_result(value, key=KEY)
    except UnstorableValueError:
        return  # a lone surrogate: refused on both paths
    assert text == _JSON.encode(_Walk().tree(value))


def test_a_plain_result_stores_as_deep_as_before() -> None:
    """A plain result nested 900 deep is stored and read back, as earlier versions did."""
    value: list[Any] = ["leaf"]
    for _ in range(900):
        value = [value]
    text = encode_result(value, key=KEY)
    assert text == old_text(value)
    assert decode_result(text, key=KEY) == value


def test_nothing_stored_reads_as_none() -> None:
    """``None`` (no stored result) and ``"null"`` both replay as ``None``."""
    assert decode_result(None, key=KEY) is None
    assert decode_result("null", key=KEY) is None


# --- typed values ------------------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")

TYPED = [
    Decimal("1.10"),
    Decimal("-0"),
    Decimal("1E+3"),
    Decimal("NaN"),
    Decimal("-Infinity"),
    Decimal("3.14159265358979323846264338327950288419716939937510"),
    datetime(2026, 12, 7, 10, 0, 0, 123456),
    datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc),
    datetime(2026, 12, 7, 10, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 3, 29, 3, 0, tzinfo=PARIS),
    datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK),  # the second 01:30 of that night
    date(2026, 12, 7),
    time(23, 59, 59, 999999),
    time(8, 30, tzinfo=timezone(timedelta(hours=-3))),
    timedelta(days=-1, seconds=5, microseconds=7),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"",
    b"\x00\xffbinary",
    (),
    (1, "a", None),
    {1, 2, 3},
    set(),
    frozenset({"a", "b"}),
    math.inf,
    -math.inf,
    {1: "one", "1": "uno"},
    {None: 0, 2.5: 1, (1, 2): 2, frozenset({3}): 3, Decimal("1"): 4},
    {"__idemlock__": "decimal", "v": "1.10"},  # a user's dict with exactly a tag's shape
    {"__idemlock__": {"__idemlock__": "x", "v": 1}, "v": [{"__idemlock__": "y", "v": 2}]},
]


@pytest.mark.parametrize("value", TYPED, ids=short)
def test_typed_values_replay_equal_and_of_the_same_type(value: object) -> None:
    """Each value JSON lacks replays equal to what was returned, and of the same type."""
    replayed = round_trip(value)
    if isinstance(value, Decimal) and value.is_nan():
        assert replayed.is_nan()
    else:
        assert replayed == value
    assert type(replayed) is type(value)


@pytest.mark.parametrize("value", TYPED, ids=short)
def test_typed_values_replay_nested_anywhere(value: object) -> None:
    """The same values deep inside lists, dicts, tuples and sets replay exactly."""
    if isinstance(value, Decimal) and value.is_nan():
        return  # NaN is not equal to itself: checked above
    nested: dict[str, object] = {
        "outer": [{"inner": (value, [value])}],
        "set": frozenset({("t", 1)}),
    }
    if isinstance(value, (int, float, str, bytes, tuple, frozenset, date, time, timedelta)):
        nested["in a set"] = {value}
    assert round_trip(nested) == nested


def test_nan_replays_as_nan() -> None:
    """A float NaN is stored tagged (JSON has none) and replays as a float NaN."""
    replayed = round_trip([math.nan])
    assert type(replayed[0]) is float
    assert math.isnan(replayed[0])


def test_zone_and_fold_are_kept() -> None:
    """A zoneinfo datetime replays in its zone (not only its offset), the repeated hour too."""
    second = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK)
    replayed = round_trip(second)
    assert replayed.tzinfo is NEW_YORK
    assert replayed.fold == 1
    assert replayed.utcoffset() == timedelta(hours=-5)
    assert replayed + timedelta(days=200) == second + timedelta(days=200)


def test_the_stored_form_is_readable_json() -> None:
    """Typed values are tagged as readable JSON, e.g. a Decimal is its text under a tag."""
    text = encode_result(
        {"total": Decimal("1.10"), "at": datetime(2026, 3, 29, 3, 0, tzinfo=PARIS)}, key=KEY
    )
    assert json.loads(text) == {
        "total": {TAG: "decimal", "v": "1.10"},
        "at": {TAG: "datetime", "v": "2026-03-29T03:00:00+02:00[Europe/Paris]"},
    }


def test_the_example_of_the_docs_is_what_is_stored() -> None:
    """docs/concepts.md shows this stored form ("Stored results"): it is the real one."""
    stored = encode_result({"total": Decimal("1.10"), "ids": {3, 1}}, key=KEY)
    assert stored == (
        '{"total":{"__idemlock__":"decimal","v":"1.10"},"ids":{"__idemlock__":"set","v":[1,3]}}'
    )


def test_sets_are_stored_sorted_when_they_sort() -> None:
    """A set's stored form does not depend on hashing order, so it reads (and diffs) the same."""
    assert json.loads(encode_result({"b", "c", "a"}, key=KEY)) == {TAG: "set", "v": ["a", "b", "c"]}
    mixed = {1, "a"}
    assert round_trip(mixed) == mixed


def test_subclasses_replay_as_their_base_type() -> None:
    """An OrderedDict replays as an equal dict; an IntEnum as an equal int (as json wrote them)."""

    class Level(enum.IntEnum):
        HIGH = 3

    value = OrderedDict([("b", 1), ("a", Level.HIGH)])
    replayed = round_trip(value)
    assert replayed == value
    assert type(replayed) is dict
    assert type(replayed["a"]) is int


typed_scalars = (
    st.decimals(allow_nan=False)
    | st.datetimes(timezones=st.none() | st.timezones())
    | st.dates()
    | st.times()
    | st.timedeltas()
    | st.uuids()
    | st.binary()
    | st.floats(allow_nan=False)
    | st.integers()
    | st.text().filter(lambda text: text == text.encode("utf-8", "ignore").decode())
)
hashable_values = st.recursive(
    typed_scalars,
    lambda children: st.tuples(children, children) | st.frozensets(children, max_size=3),
    max_leaves=8,
)
typed_values = st.recursive(
    hashable_values,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(hashable_values, children, max_size=4)
        | st.sets(hashable_values, max_size=4)
        | st.tuples(children, children)
    ),
    max_leaves=20,
)


@given(typed_values)
def test_any_mix_of_typed_values_round_trips(value: object) -> None:
    """Any nesting of the supported values replays equal and with the same types throughout."""
    replayed = round_trip(value)
    assert replayed == value
    assert _types(replayed) == _types(value)


def _types(value: object) -> object:
    """The type tree of a value, for comparing what equality does not (1 == 1.0 == True)."""
    if isinstance(value, dict):
        return ("dict", sorted((repr(_types(k)), repr(_types(v))) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_types(member) for member in value])
    if isinstance(value, (set, frozenset)):
        return (type(value).__name__, sorted(repr(_types(member)) for member in value))
    if isinstance(value, datetime):
        return ("datetime", repr(value.tzinfo))
    return type(value).__name__


@pytest.mark.servers  # through getfixturevalue, which the automatic mark cannot see
@pytest.mark.parametrize("server", ["dynamodb_local", "dynalite"])
def test_a_large_tagged_result_goes_through_dynamodb_compressed(
    server: str, request: pytest.FixtureRequest
) -> None:
    """A 60 KB result full of tags is stored by a real DynamoDB store (compressed, as results
    over 1 KB are) and reads back as it was: the store keeps the text, whatever it holds."""
    store = fresh_table(request.getfixturevalue(server))
    value = {
        "rows": [
            {"id": uuid.UUID(int=n), "at": date(2026, 1, 1) + timedelta(days=n), "n": Decimal(n)}
            for n in range(500)
        ],
        "tags": frozenset({"ünï", "cødé"}),
    }
    text = encode_result(value, key=KEY)
    now_ms = 1_800_000_000_000
    claim = Claim(KEY, "me", now_ms, now_ms, now_ms + 60_000, now_ms // 1000 + 3600)
    assert store.claim(claim).acquired
    assert store.complete(KEY, "me", now_ms=now_ms, result=text, expires_at_s=None)
    assert store.stored_result_bytes(text) < len(text) // 4  # compressed on the way in
    item = store.get(KEY)
    assert item is not None
    assert decode_result(item.result, key=KEY) == value


# --- classes rebuilt by type -------------------------------------------------------------------


class Status(enum.Enum):
    PAID = "paid"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class Line:
    sku: str
    price: Decimal


@dataclass
class Order:
    order_id: uuid.UUID
    lines: list[Line]
    status: Status
    placed_at: datetime
    note: str | None = None
    tags: frozenset[str] = frozenset()
    kind: ClassVar[str] = "order"
    total: Decimal = field(init=False)

    def __post_init__(self) -> None:
        self.total = sum((line.price for line in self.lines), Decimal(0))


class Basket(TypedDict):
    lines: list[Line]
    note: str | None


class Point(NamedTuple):
    x: Decimal
    y: Decimal


def an_order() -> Order:
    return Order(
        order_id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        lines=[Line("a", Decimal("1.10")), Line("b", Decimal("2.25"))],
        status=Status.PAID,
        placed_at=datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc),
        tags=frozenset({"gift"}),
    )


def test_a_dataclass_replays_as_an_equal_instance_by_annotation() -> None:
    """A function annotated to return a dataclass replays an equal instance, nested ones too."""

    def handler(event: dict[str, Any]) -> Order:
        return an_order()

    result_type = result_type_of(handler)
    assert result_type is Order
    replayed = round_trip(handler({}), result_type)
    assert replayed == an_order()
    assert type(replayed.lines[0]) is Line
    assert replayed.status is Status.PAID
    assert replayed.total == Decimal("3.35")


def test_a_dataclass_is_stored_as_its_fields() -> None:
    """The stored form of a dataclass is its fields as readable JSON (no class name, no code)."""
    stored = json.loads(encode_result(Line("a", Decimal("1")), key=KEY, result_type=Line))
    assert stored == {"sku": "a", "price": {TAG: "decimal", "v": "1"}}


def test_a_dataclass_stores_its_fields_not_its_class_variables() -> None:
    """``dataclasses.fields``: an ``init=False`` field is stored, a ClassVar is not; the
    ``init=False`` field is recomputed by the class on the way back."""
    stored = json.loads(encode_result(an_order(), key=KEY, result_type=Order))
    assert "kind" not in stored
    assert stored["total"] == {TAG: "decimal", "v": "3.35"}


@dataclass
class Ghost:
    line: Unknowable  # type: ignore[name-defined]  # noqa: F821 (imported for type checking only)


def test_field_annotations_that_do_not_resolve_replay_as_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A field annotated with a name that is not there at run time: the instance is still
    rebuilt, that field replays as stored, and a WARNING says why (once per class)."""
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        replayed = round_trip(Ghost({"sku": "a"}), Ghost)
        round_trip(Ghost({"sku": "b"}), Ghost)
    assert replayed == Ghost({"sku": "a"})
    warnings = [record for record in caplog.records if "field annotations" in record.message]
    assert len(warnings) == 1
    assert "Ghost" in warnings[0].message


def test_without_a_type_a_class_replays_as_its_fields_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No annotation, no result_type=: the fields replay as a dict, and the write says so."""
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        text = encode_result([an_order()], key=KEY)
    assert "test_codec.Order" in caplog.text
    assert "result_type=" in caplog.text
    assert KEY in caplog.text
    replayed = decode_result(text, key=KEY)
    assert replayed[0]["lines"][0] == {"sku": "a", "price": Decimal("1.10")}
    assert replayed[0]["status"] == "paid"


def test_with_a_type_no_warning_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A result type given: the write logs nothing, as for plain results and IntEnums."""

    class Level(enum.IntEnum):
        HIGH = 3

    with caplog.at_level(logging.WARNING, logger="idemlock"):
        encode_result(an_order(), key=KEY, result_type=Order)
        encode_result({"level": Level.HIGH, "n": [1]}, key=KEY)
    assert caplog.records == []


def test_a_namedtuple_replays_as_itself_by_type_and_as_an_equal_tuple_without() -> None:
    """A NamedTuple is a tagged tuple: equal to a plain tuple, the class itself by type."""
    point = Point(Decimal("1.5"), Decimal("-2"))
    assert round_trip(point) == point
    replayed = round_trip(point, Point)
    assert type(replayed) is Point
    assert replayed == point


@pytest.mark.parametrize(
    ("result_type", "value"),
    [
        (list[Line], [Line("a", Decimal(1)), Line("b", Decimal(2))]),
        (Optional[Line], Line("a", Decimal(1))),  # noqa: UP045 (the spelling under test)
        (Line | None, Line("a", Decimal(1))),
        (Line | None, None),
        (dict[str, Line], {"x": Line("a", Decimal(1))}),
        (dict[Point, Line], {Point(Decimal(1), Decimal(2)): Line("a", Decimal(1))}),
        (tuple[Line, ...], (Line("a", Decimal(1)), Line("b", Decimal(2)))),
        (tuple[Line, int], (Line("a", Decimal(1)), 2)),
        (set[Point], {Point(Decimal(1), Decimal(2))}),
        (frozenset[Point], frozenset({Point(Decimal(1), Decimal(2))})),
        (Annotated[Line, "meta"], Line("a", Decimal(1))),
        (NewType("LineId", Line), Line("a", Decimal(1))),
        (Mapping[str, list[Line]], {"x": [Line("a", Decimal(1))]}),
        (Status, Status.REFUNDED),
        (Basket, {"lines": [Line("a", Decimal(1))], "note": None}),
        (list[Status], [Status.PAID, Status.REFUNDED]),
        (Line | Point, Point(Decimal(1), Decimal(2))),
        (Line | Point, Line("a", Decimal(1))),
    ],
    ids=short,
)
def test_generic_annotations_rebuild_their_members(result_type: Any, value: object) -> None:
    """``list[Line]``, ``Optional[Line]``, ``dict[str, Line]``... rebuild the classes inside."""
    replayed = round_trip(value, result_type)
    assert replayed == value
    assert _classes(replayed) == _classes(value)


def _classes(value: object) -> object:
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return [_classes(member) for member in value]
    if isinstance(value, (set, frozenset)):
        return sorted(type(member).__name__ for member in value)
    if isinstance(value, dict):
        return [(_classes(k), _classes(v)) for k, v in value.items()]
    return type(value).__name__


def test_a_value_that_does_not_fit_the_annotation_replays_as_returned() -> None:
    """A function annotated ``-> Line`` that returned a list or a string replays that."""
    assert round_trip(["not", "a", "line"], Line) == ["not", "a", "line"]
    assert round_trip("text", Point) == "text"
    assert round_trip({"k": 1}, list[Line]) == {"k": 1}


def test_a_field_added_with_a_default_since_the_write_takes_its_default() -> None:
    """Stored fields that the class no longer has are left out; new fields take defaults."""
    stored = encode_result({"sku": "a", "price": Decimal(1), "gone": 1}, key=KEY)
    assert decode_result(stored, Line, key=KEY) == Line("a", Decimal(1))


def test_fields_that_no_longer_make_the_class_are_a_typed_error() -> None:
    """A stored dataclass missing a required field: UnreadableResultError naming the path."""
    stored = encode_result([{"sku": "a"}], key=KEY)
    with pytest.raises(UnreadableResultError, match=r"result\[0\].*test_codec\.Line") as caught:
        decode_result(stored, list[Line], key=KEY)
    assert caught.value.key == KEY


def test_a_stored_value_that_is_not_an_enum_member_is_a_typed_error() -> None:
    """An Enum annotation and a stored value that is none of its members: a typed error."""
    with pytest.raises(UnreadableResultError, match="Status"):
        decode_result('"shipped"', Status, key=KEY)


# --- pydantic v2, and the duck-typed path ------------------------------------------------------


class Money(pydantic.BaseModel):
    amount: Decimal
    currency: str


class Invoice(pydantic.BaseModel):
    invoice_id: uuid.UUID
    issued: date
    lines: list[Money]
    status: Status
    link: pydantic.HttpUrl | None = None


def an_invoice(link: str | None = None) -> Invoice:
    return Invoice(
        invoice_id=uuid.UUID(int=7),
        issued=date(2026, 12, 7),
        lines=[Money(amount=Decimal("9.99"), currency="EUR")],
        status=Status.REFUNDED,
        link=None if link is None else pydantic.HttpUrl(link),
    )


def test_a_pydantic_model_replays_as_an_equal_instance() -> None:
    """A function annotated to return a pydantic v2 model replays an equal model."""

    def handler() -> Invoice:
        return an_invoice()

    result_type = result_type_of(handler)
    replayed = round_trip(handler(), result_type)
    assert type(replayed) is Invoice
    assert replayed == an_invoice()
    assert replayed.lines[0].amount == Decimal("9.99")


def test_a_pydantic_model_with_a_field_python_cannot_store_goes_through_its_json_dump() -> None:
    """A URL field (no stored form as a Python value): pydantic's JSON dump is stored instead."""
    invoice = an_invoice(link="https://example.com/i/7")
    assert round_trip(invoice, Invoice) == invoice
    assert round_trip([invoice], list[Invoice]) == [invoice]


class StrictReceipt(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)

    total: Decimal
    at: datetime
    link: pydantic.HttpUrl | None = None


@pytest.mark.parametrize("link", [None, "https://example.com/r/1"])
def test_a_strict_pydantic_model_replays_whichever_dump_was_stored(link: str | None) -> None:
    """A strict model replays from its Python dump, and from its JSON dump (a URL field)."""
    receipt = StrictReceipt(
        total=Decimal("1.10"),
        at=datetime(2026, 12, 7, tzinfo=timezone.utc),
        link=None if link is None else pydantic.HttpUrl(link),
    )
    assert round_trip(receipt, StrictReceipt) == receipt


def test_a_pydantic_model_without_a_type_replays_as_its_fields() -> None:
    """Without the annotation a model replays as its fields, Decimal and dates kept."""
    replayed = round_trip(an_invoice())
    assert replayed["lines"] == [{"amount": Decimal("9.99"), "currency": "EUR"}]
    assert replayed["issued"] == date(2026, 12, 7)


class FakeModel:
    """Quacks like a pydantic v2 model: ``model_dump`` and ``model_validate``, no pydantic."""

    def __init__(self, amount: Decimal) -> None:
        self.amount = amount

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeModel) and other.amount == self.amount

    __hash__ = None  # type: ignore[assignment]

    def model_dump(self, *, mode: str) -> dict[str, Any]:
        return {"amount": self.amount if mode == "python" else str(self.amount)}

    @classmethod
    def model_validate(cls, data: dict[str, Any]) -> FakeModel:
        return cls(Decimal(data["amount"]))


def test_a_duck_typed_model_replays_by_model_validate() -> None:
    """Models are recognised by ``model_dump``/``model_validate``, not by importing pydantic."""
    replayed = round_trip({"m": FakeModel(Decimal("1.5"))}, dict[str, FakeModel])
    assert replayed == {"m": FakeModel(Decimal("1.5"))}


def test_the_codec_imports_neither_pydantic_nor_the_costly_stdlib_modules() -> None:
    """Importing the codec, and storing and replaying plain and typed results, loads none of
    pydantic, uuid, dataclasses or zoneinfo."""
    code = (
        "import sys\n"
        "from decimal import Decimal\n"
        "from idemlock._codec import encode_result, decode_result\n"
        "value = {'n': [1, (2, Decimal('3.5'))], 's': {1}}\n"
        "assert decode_result(encode_result(value, key='k'), key='k') == value\n"
        "heavy = ('pydantic', 'uuid', 'dataclasses', 'zoneinfo')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


# --- what cannot be stored ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "path", "type_name"),
    [
        (complex(1, 2), "result", "complex"),
        ({"a": [1, object()]}, "result['a'][1]", "object"),
        ({"a": {"b": bytearray(b"x")}}, "result['a']['b']", "bytearray"),
        ([Line("a", Decimal(1)), Line("b", 1j)], "result[1].price", "complex"),  # type: ignore[arg-type]
        ({"lock": threading.Lock()}, "result['lock']", "_thread.lock"),
        ({(1, object()): 2}, "result[(1, <object>)][1]", "object"),
        ({"s": {Line("a", Decimal(1))}}, "result['s']{…}", "tests.test_codec.Line"),
        ({Line("a", Decimal(1)): 1}, "result[Line]", "tests.test_codec.Line"),
        (["x\ud800y"], "result[0]", "str"),
        ({"big": 10**5000}, "result['big']", "int"),
        (Status, "result", f"enum.{type(Status).__name__}"),  # EnumMeta before Python 3.11
    ],
    ids=short,
)
def test_a_value_without_a_stored_form_is_named_by_path_and_type(
    value: object, path: str, type_name: str
) -> None:
    """UnstorableValueError (an UnstorableResultError) names where the value is and its type."""
    with pytest.raises(UnstorableValueError) as caught:
        encode_result(value, key=KEY)
    error = caught.value
    assert isinstance(error, UnstorableResultError)
    assert error.key == KEY
    assert error.type_name.endswith(type_name.rsplit(".", maxsplit=1)[-1])
    # object reprs carry addresses: compare the path up to them
    assert (
        error.path.split("<")[0].split("Line")[0]
        == path.split("<", maxsplit=1)[0].split("Line", maxsplit=1)[0]
    )
    assert error.path in str(error)


@pytest.mark.parametrize("container", ["list", "dict", "dataclass"])
def test_a_circular_result_is_named_as_such(container: str) -> None:
    """A result containing itself: a typed error saying so (never a RecursionError)."""

    @dataclass
    class Node:
        child: object = None

    value: Any
    if container == "list":
        value = [1]
        value.append([value])
    elif container == "dict":
        value = {"a": {}}
        value["a"]["b"] = value
    else:
        value = Node()
        value.child = [value]
    with pytest.raises(UnstorableValueError, match="circular"):
        encode_result(value, key=KEY)


def test_a_result_nested_too_deep_is_a_typed_error() -> None:
    """A list nested 100,000 deep: UnstorableValueError, no RecursionError."""
    value: list[Any] = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(UnstorableValueError, match="nested deeper"):
        encode_result(value, key=KEY)


def _on_a_deep_stack(function: Callable[[], object], depth: int = 900) -> object:
    def down(levels: int) -> object:
        return function() if levels == 0 else down(levels - 1)

    return down(depth)


def test_deep_results_store_and_replay_from_a_deep_stack() -> None:
    """Stored and replayed from near the recursion limit, a 400-deep result still round trips,
    and an item written before tags 900 deep still reads (each walk gets a fresh thread's stack
    when the caller's is too deep)."""
    value: list[Any] = ["leaf", Decimal(1)]
    for _ in range(400):
        value = [value]
    text = _on_a_deep_stack(lambda: encode_result(value, key=KEY))
    assert isinstance(text, str)
    assert _on_a_deep_stack(lambda: decode_result(text, key=KEY)) == value
    old: list[Any] = ["leaf"]
    for _ in range(900):
        old = [old]
    written_before = old_text(old)
    assert _on_a_deep_stack(lambda: decode_result(written_before, key=KEY)) == old


# --- what cannot be read -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not JSON"),
        ("", "not JSON"),
        ("\x00\x01binary", "not JSON"),
        ('{"__idemlock__": "complex", "v": [1, 2]}', "tag 'complex'"),
        ('{"__idemlock__": 7, "v": 1}', "tag 7"),
        ('{"__idemlock__": "decimal", "v": "abc"}', "'decimal' tag holds \"abc\""),
        ('{"__idemlock__": "decimal", "v": 1.5}', "not a string"),
        ('{"__idemlock__": "datetime", "v": "yesterday"}', "'datetime' tag"),
        ('{"__idemlock__": "datetime", "v": "2026-01-01T00:00[Europe/Paris]"}', "offset"),
        ('{"__idemlock__": "date", "v": "2026-13-01"}', "'date' tag"),
        ('{"__idemlock__": "time", "v": "25:00"}', "'time' tag"),
        ('{"__idemlock__": "timedelta", "v": [1, 2]}', "days, seconds, microseconds"),
        ('{"__idemlock__": "uuid", "v": "not-a-uuid"}', "'uuid' tag"),
        ('{"__idemlock__": "bytes", "v": "!!!"}', "'bytes' tag"),
        ('{"__idemlock__": "set", "v": [[1], [2]]}', "'set' tag"),
        ('{"__idemlock__": "set", "v": 3}', "not a list"),
        ('{"__idemlock__": "dict", "v": [[1, 2, 3]]}', "pairs"),
        ('{"__idemlock__": "float", "v": "1.5"}', "'float' tag"),
        ('[1, {"__idemlock__": "tuple", "v": {"a": 1}}]', "not a list"),
    ],
    ids=short,
)
def test_a_corrupted_or_foreign_result_is_a_typed_error_naming_the_problem(
    text: str, problem: str
) -> None:
    """Text that is not JSON, or tags that do not read: UnreadableResultError, never a
    JSONDecodeError, KeyError or TypeError."""
    with pytest.raises(UnreadableResultError) as caught:
        decode_result(text, key=KEY)
    assert problem in str(caught.value)
    assert caught.value.key == KEY
    assert KEY in str(caught.value)


def test_bytes_instead_of_text_is_a_typed_error() -> None:
    """A result handed over still compressed (bytes): a typed error, not a decode attempt."""
    with pytest.raises(UnreadableResultError, match="bytes, not JSON text"):
        decode_result(b'"x"', key=KEY)  # type: ignore[arg-type]


def test_an_unknown_time_zone_replays_with_its_offset(caplog: pytest.LogCaptureFixture) -> None:
    """A zone this machine does not know: the same instant at its UTC offset, and a warning."""
    text = json.dumps({TAG: "datetime", "v": "2026-01-01T00:00:00+01:00[Mars/Olympus]"})
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        replayed = decode_result(text, key=KEY)
    assert replayed == datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    assert "Mars/Olympus" in caplog.text


# --- types known before running ----------------------------------------------------------------


def returns_order() -> Order:
    return an_order()


def test_result_type_of_reads_the_return_annotation() -> None:
    """The return annotation, resolved from its string form (``from __future__``) too."""
    assert result_type_of(returns_order) is Order
    assert returns_order.__annotations__["return"] == "Order"  # this module's annotations are text


def test_result_type_of_is_none_where_there_is_nothing_to_rebuild() -> None:
    """No annotation, ``Any``, ``object`` and ``None`` give ``None``."""

    def bare(event):  # type: ignore[no-untyped-def]
        return event

    def anything() -> Any:
        return 1

    def nothing() -> None:
        return None

    def some_object() -> object:
        return 1

    for function in (bare, anything, nothing, some_object, print, functools.partial(bare, 1)):
        assert result_type_of(function) is None


def test_result_type_of_ignores_parameter_annotations_that_do_not_resolve() -> None:
    """Only the return annotation is resolved: a ``context: "LambdaContext"`` imported for type
    checking only (the common handler) does not stop it; an unresolvable return gives None."""

    def handler(event: dict[str, Any], context: LambdaContext) -> list[Line]:  # type: ignore[name-defined]  # noqa: F821
        return []

    def unknown() -> NotImportedHere:  # type: ignore[name-defined]  # noqa: F821
        return 1

    assert result_type_of(handler) == list[Line]
    assert result_type_of(unknown) is None


def test_result_type_of_sees_through_wrappers_and_async_functions() -> None:
    """functools.wraps layers and ``async def`` give the annotation of the function written."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any) -> Any:
            return function(*args)

        return wrapper

    async def async_handler() -> Point:
        return Point(Decimal(1), Decimal(2))

    assert result_type_of(decorate(decorate(returns_order))) is Order
    assert result_type_of(async_handler) is Point


class Response:
    """A framework's response object: no stored form."""


class APIGatewayResponse(TypedDict):
    statusCode: int
    body: str


class Shaped(Protocol):
    def shape(self) -> str: ...


@pytest.mark.parametrize(
    ("result_type", "named"),
    [
        (Iterator[int], "Iterator"),
        (Generator[int, None, None], "Generator"),
        (socket.socket, "socket"),
        (complex, "complex"),
        (Callable[[int], int], "Callable"),
        (type[int], "type"),
        (Response, "test_codec.Response"),
        (list[complex], "complex"),
        (dict[str, Response], "Response"),
        (Optional[Response], "Response"),  # noqa: UP045 (the spelling under test)
        (complex | Response, "complex"),
    ],
    ids=short,
)
def test_types_that_can_never_be_stored_are_named(result_type: Any, named: str) -> None:
    """check_storable_type says why an annotated return type can never be stored."""
    reason = check_storable_type(result_type)
    assert reason is not None
    assert named in reason
    assert "no stored form" in reason


@pytest.mark.parametrize(
    "result_type",
    [
        None,
        Any,
        object,
        int,
        type(None),
        dict,
        dict[str, Any],
        Mapping[str, Any],
        Iterable[int],
        list[Line],
        Order,
        Point,
        Status,
        Invoice,
        FakeModel,
        APIGatewayResponse,
        Shaped,
        Optional[int],  # noqa: UP045 (the spelling under test)
        int | complex,
        Annotated[Decimal, "money"],
        NewType("OrderId", uuid.UUID),
        tuple[int, ...],
        uuid.UUID,
        "Order",
    ],
    ids=short,
)
def test_types_that_may_be_stored_pass(result_type: Any) -> None:
    """Anything that may hold a storable value passes, abstract types and Protocols included."""
    assert check_storable_type(result_type) is None
