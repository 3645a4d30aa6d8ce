"""Unit tests for :func:`idemlock.keys.jmespath_key`: key functions from JMESPath expressions."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from idemlock.errors import ConfigurationError, EventError, InvalidKeyError
from idemlock.keys import call_key_fn, jmespath_key
from tests.sources_helpers import load_event, record_of

ORDER = {"detail": {"order_id": "o-1", "count": 3, "lines": [{"sku": "A"}], "flag": True}}


@pytest.mark.parametrize(
    ("expression", "event", "key"),
    [
        ("detail.order_id", ORDER, "o-1"),
        ("detail.lines[0].sku", ORDER, "A"),
        ("id", load_event("eventbridge-scheduled"), "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"),
        ("Records[0].s3.object.sequencer", load_event("s3-put"), "0055AED6DCD90281E5"),
        ("messageId", record_of("sqs"), "059f36b4-87a3-44ab-83d2-661975830a7d"),
        ("join('/', [resources[0], time])", load_event("eventbridge-scheduled"),
         "arn:aws:events:ap-northeast-1:123456789012:rule/nightly-report/2026-11-20T03:00:00Z"),
    ],
)  # fmt: skip
def test_reads_the_expression_from_the_event(expression: str, event: Any, key: str) -> None:
    """The key function returns what the expression selects in its first argument."""
    assert jmespath_key(expression)(event) == key


def test_ignores_the_other_arguments() -> None:
    """The key function takes (event, context) and reads only the event."""
    assert jmespath_key("detail.order_id")(ORDER, object()) == "o-1"


@pytest.mark.parametrize(
    ("value", "key"),
    [(3, "3"), (0, "0"), (-12, "-12"), (Decimal("12.50"), "12.50"), (2.5, "2.5")],
)
def test_numbers_become_strings(value: Any, key: str) -> None:
    """A number is converted with str(): ints, Decimals (from DynamoDB) and floats."""
    assert jmespath_key("n")({"n": value}) == key


@pytest.mark.parametrize("event", [{}, {"detail": {}}, {"detail": None}, {"detail": "text"}, []])
def test_missing_value_is_event_error_naming_the_expression(event: Any) -> None:
    """Nothing at the expression's path is an EventError whose path is the expression."""
    with pytest.raises(EventError) as caught:
        jmespath_key("detail.order_id")(event)
    assert caught.value.path == "detail.order_id"


def test_empty_string_is_event_error() -> None:
    """An empty string found at the path is no key: EventError."""
    with pytest.raises(EventError):
        jmespath_key("detail.order_id")({"detail": {"order_id": ""}})


@pytest.mark.parametrize(
    "expression", ["detail", "detail.lines", "detail.lines[*].sku", "detail.flag"]
)
def test_non_scalar_result_is_invalid_key(expression: str) -> None:
    """An object, a list or a boolean is no key: InvalidKeyError naming the expression."""
    with pytest.raises(InvalidKeyError) as caught:
        jmespath_key(expression)(ORDER)
    assert not isinstance(caught.value, EventError)
    assert expression in str(caught.value)


def test_type_error_inside_the_expression_is_event_error() -> None:
    """A function given data of the wrong type (the event's shape is off) is an EventError."""
    with pytest.raises(EventError) as caught:
        jmespath_key("to_string(length(detail.count))")(ORDER)
    assert caught.value.path == "to_string(length(detail.count))"


@pytest.mark.parametrize(
    "expression",
    [
        "detail..order_id",
        "detail[",
        "`{",
        "",
        "   ",
        "no_such_function(id)",
        "length(a, b)",
        "merge()",
    ],
)
def test_invalid_expression_is_configuration_error_at_creation(expression: str) -> None:
    """A syntax error, unknown function or wrong arity fails when the key function is made."""
    with pytest.raises(ConfigurationError):
        jmespath_key(expression)


def test_variadic_function_takes_several_arguments() -> None:
    """not_null() takes any number of arguments: not a configuration error."""
    assert jmespath_key("not_null(a, b, c)")({"c": "x"}) == "x"


def test_non_string_expression_is_configuration_error() -> None:
    """An expression that is not a string is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        jmespath_key(42)  # type: ignore[arg-type]


def test_repr_names_the_expression() -> None:
    """The key function's repr shows how it was made."""
    assert repr(jmespath_key("detail.order_id")) == "jmespath_key('detail.order_id')"


def test_works_through_call_key_fn() -> None:
    """The decorator's key call accepts a JMESPath key function for handler(event, context)."""

    def handler(event: Any, context: Any) -> None: ...

    key_fn = jmespath_key("detail.order_id")
    assert call_key_fn(key_fn, handler, (ORDER, None), {}) == "o-1"


def test_jmespath_is_imported_only_when_used() -> None:
    """Importing idemlock.keys does not import jmespath; making a JMESPath key does."""
    script = (
        "import sys, idemlock.keys\n"
        "before = 'jmespath' in sys.modules\n"
        "idemlock.keys.jmespath_key('a')\n"
        "print(before, 'jmespath' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.stdout.split() == ["False", "True"]


# --- compound keys, Powertools' JSON functions, booleans (issue 25 §4) ----------------------------

REFUND = {"refund_id": "r-1", "customer_id": "c-9", "amount": 12, "retry": True}


@pytest.mark.parametrize(
    ("expression", "key"),
    [
        ('["refund_id", "customer_id"]', '["r-1","c-9"]'),
        ("[refund_id, amount]", '["r-1",12]'),
        ("{refund: refund_id, customer: customer_id}", '{"refund":"r-1","customer":"c-9"}'),
        ("@.[refund_id, retry]", '["r-1",true]'),
        ("@ | [refund_id, customer_id]", '["r-1","c-9"]'),
    ],
)
def test_a_multi_select_is_a_compound_key(expression: str, key: str) -> None:
    """A multi-select list or hash (Powertools' compound keys) is a key: its members as compact
    JSON, readable in the lock table; a boolean member qualifies another member and is kept."""
    assert jmespath_key(expression)(REFUND) == key


def test_compound_keys_of_different_members_differ() -> None:
    """The members are not joined by a separator they may contain: ("a/b", "c") and ("a", "b/c")
    are two keys."""
    compound = jmespath_key("[x, y]")
    assert compound({"x": "a/b", "y": "c"}) != compound({"x": "a", "y": "b/c"})


def test_a_compound_key_with_some_members_missing_keeps_them_as_null() -> None:
    """A member the event lacks is null in the key, as Powertools hashes it; the others still
    name the event."""
    assert jmespath_key("[refund_id, missing]")(REFUND) == '["r-1",null]'


@pytest.mark.parametrize("event", [{}, {"other": 1}, {"refund_id": "", "customer_id": None}])
def test_a_compound_key_with_every_member_missing_is_event_error(event: Any) -> None:
    """No member found (or only empty ones): the event has no key, EventError naming the
    expression."""
    with pytest.raises(EventError) as caught:
        jmespath_key("[refund_id, customer_id]")(event)
    assert caught.value.path == "[refund_id, customer_id]"


def test_a_compound_member_that_is_an_object_is_invalid_key() -> None:
    """Each member is a single value: an object or list member is InvalidKeyError."""
    with pytest.raises(InvalidKeyError) as caught:
        jmespath_key("[order_id, lines]")({"order_id": "o-1", "lines": [{"sku": "A"}]})
    assert "[order_id, lines]" in str(caught.value)


def test_a_boolean_alone_is_still_no_key() -> None:
    """A boolean alone would put every event into one of two keys: InvalidKeyError saying to
    combine it with a field that names the event."""
    with pytest.raises(InvalidKeyError) as caught:
        jmespath_key("retry")(REFUND)
    assert "[" in str(caught.value)  # names the compound form


API_REQUEST = {"body": '{"order_id": "o-7", "lines": 2}', "isBase64Encoded": False}


@pytest.mark.parametrize(
    ("expression", "event", "key"),
    [
        ("powertools_json(body).order_id", API_REQUEST, "o-7"),
        ("powertools_json(body).[order_id, lines]", API_REQUEST, '["o-7",2]'),
        ("body | powertools_json(@).order_id", API_REQUEST, "o-7"),
        ("powertools_json(body).order_id", record_of("sqs") | {"body": '{"order_id": "q"}'}, "q"),
        ("powertools_base64(data)", {"data": "b3JkZXItMQ=="}, "order-1"),
        (
            "powertools_json(powertools_base64_gzip(data)).id",
            {"data": "H4sIAAAAAAACA6tWykxRslJK1DVUqgUAg/wBewwAAAA="},
            "a-1",
        ),
    ],
)
def test_powertools_functions_decode_strings_inside_key_paths(
    expression: str, event: Any, key: str
) -> None:
    """powertools_json, powertools_base64 and powertools_base64_gzip work as in Powertools, so an
    API Gateway or SQS body needs no custom key function."""
    assert jmespath_key(expression)(event) == key


@pytest.mark.parametrize(
    "event",
    [{"body": "not json"}, {"body": 42}, {"body": None}, {"body": '"o-1'}],
    ids=["not-json", "number", "null", "cut"],
)
def test_a_body_that_is_not_json_text_is_event_error(event: Any) -> None:
    """powertools_json of text that is not JSON, or of no text, is an EventError naming the
    expression: never a raw JSONDecodeError."""
    with pytest.raises(EventError) as caught:
        jmespath_key("powertools_json(body).order_id")(event)
    assert caught.value.path == "powertools_json(body).order_id"


@pytest.mark.parametrize(
    ("expression", "event"),
    [
        ("powertools_base64(data)", {"data": "%%%"}),
        ("powertools_base64_gzip(data)", {"data": "QUJD"}),
    ],
    ids=["base64", "gzip"],
)
def test_undecodable_base64_or_gzip_is_event_error(expression: str, event: Any) -> None:
    """Text that is not base64, or not gzip inside, is an EventError, not binascii.Error or
    gzip.BadGzipFile."""
    with pytest.raises(EventError) as caught:
        jmespath_key(expression)(event)
    assert caught.value.path == expression


def test_powertools_functions_check_their_arity_at_creation() -> None:
    """powertools_json takes one argument: two is a ConfigurationError when decorating."""
    with pytest.raises(ConfigurationError):
        jmespath_key("powertools_json(a, b)")
