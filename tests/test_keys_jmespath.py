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
