"""An in-memory stand-in for a botocore DynamoDB client, for timing library code alone.

It implements the four calls both libraries make (``UpdateItem``, ``PutItem``, ``GetItem``,
``DeleteItem``) on the low-level attribute-value format, with the conditional semantics they rely
on: ``ConditionExpression`` (``attribute_exists``, ``attribute_not_exists``, comparisons,
``AND``/``OR``/``NOT``, parentheses), ``UpdateExpression`` (``SET`` with ``if_not_exists`` and
``+``/``-``, ``REMOVE``, ``ADD`` of a number), ``ReturnValues`` ``ALL_NEW`` and ``UPDATED_OLD``,
and ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` (the old item in the ``ClientError``'s
response, as botocore parses it). Expressions are compiled once per distinct string, so the
stand-in costs the same few microseconds per call to both libraries, and it measures its own time
(:attr:`FakeDynamoDB.elapsed`) so that can be taken out of the libraries' figures.

It is not a DynamoDB emulator: no validation, no types beyond ``S`` and ``N``, no size limits.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

Item = dict[str, dict[str, str]]
Names = dict[str, str]
Values = dict[str, dict[str, str]]
Condition = Callable[[Item | None, Names, Values], bool]
Operand = Callable[[Item | None, Names, Values], dict[str, str] | None]

_TOKEN = re.compile(r"\s*(<=|>=|<>|[=<>(),+\-]|[#:]?[A-Za-z_][A-Za-z0-9_]*)")


def _timed(method: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """An API method that adds its whole time to :attr:`FakeDynamoDB.elapsed`.

    The clock starts before the method binds its named parameters: what is left to the caller is
    packing its keywords into one dict, which a botocore client's ``_api_call(**kwargs)`` costs
    it too.
    """

    @functools.wraps(method)
    def timed(self: FakeDynamoDB, **params: Any) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            return method(self, **params)
        finally:
            self.elapsed += time.perf_counter() - start

    return timed


class _Events:
    """Enough of ``client.meta.events`` for code that registers hooks it never needs here."""

    def register(self, *_: Any, **__: Any) -> None:
        """Accept and ignore a hook."""


class _Meta:
    def __init__(self) -> None:
        self.events = _Events()


class FakeDynamoDB:
    """A thread-safe in-memory table store answering like botocore's DynamoDB client."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Item]] = {}
        self.calls: Counter[str] = Counter()
        self.elapsed = 0.0
        """Seconds spent inside this object's API calls, summed."""
        self.last_key: str | None = None
        """The partition key of the last item written."""
        self.meta = _Meta()
        self._lock = threading.Lock()
        self._conditions: dict[str, Condition] = {}
        self._updates: dict[str, Callable[[Item, Names, Values], list[str]]] = {}

    # -- the API --------------------------------------------------------------------------

    @_timed
    def get_item(self, *, TableName: str, Key: Item, **_: Any) -> dict[str, Any]:
        """``GetItem``: always consistent."""
        with self._lock:
            self.calls["GetItem"] += 1
            item = self._table(TableName).get(_key(Key))
            return {} if item is None else {"Item": dict(item)}

    @_timed
    def put_item(
        self,
        *,
        TableName: str,
        Item: Item,
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: Names | None = None,
        ExpressionAttributeValues: Values | None = None,
        ReturnValuesOnConditionCheckFailure: str = "NONE",
        **_: Any,
    ) -> dict[str, Any]:
        """``PutItem``, conditional or not."""
        with self._lock:
            self.calls["PutItem"] += 1
            table = self._table(TableName)
            key = _first_string(Item)
            self._check(
                "PutItem",
                table.get(key),
                ConditionExpression,
                names=ExpressionAttributeNames,
                values=ExpressionAttributeValues,
                on_failure=ReturnValuesOnConditionCheckFailure,
            )
            table[key] = dict(Item)
            self.last_key = key
            return {}

    @_timed
    def update_item(
        self,
        *,
        TableName: str,
        Key: Item,
        UpdateExpression: str,
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: Names | None = None,
        ExpressionAttributeValues: Values | None = None,
        ReturnValues: str = "NONE",
        ReturnValuesOnConditionCheckFailure: str = "NONE",
        **_: Any,
    ) -> dict[str, Any]:
        """``UpdateItem``: creates the item when absent, as DynamoDB does."""
        with self._lock:
            self.calls["UpdateItem"] += 1
            table = self._table(TableName)
            key = _key(Key)
            old = table.get(key)
            names = ExpressionAttributeNames or {}
            values = ExpressionAttributeValues or {}
            self._check(
                "UpdateItem",
                old,
                ConditionExpression,
                names=names,
                values=values,
                on_failure=ReturnValuesOnConditionCheckFailure,
            )
            new = dict(old) if old is not None else dict(Key)
            update = self._updates.get(UpdateExpression)
            if update is None:
                update = self._updates[UpdateExpression] = _compile_update(UpdateExpression)
            touched = update(new, names, values)
            table[key] = new
            self.last_key = key
            if ReturnValues == "ALL_NEW":
                return {"Attributes": dict(new)}
            if ReturnValues == "UPDATED_OLD" and old is not None:
                before = {name: old[name] for name in touched if name in old}
                return {"Attributes": before} if before else {}
            return {}

    @_timed
    def delete_item(
        self,
        *,
        TableName: str,
        Key: Item,
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: Names | None = None,
        ExpressionAttributeValues: Values | None = None,
        ReturnValues: str = "NONE",
        ReturnValuesOnConditionCheckFailure: str = "NONE",
        **_: Any,
    ) -> dict[str, Any]:
        """``DeleteItem``, conditional or not."""
        with self._lock:
            self.calls["DeleteItem"] += 1
            table = self._table(TableName)
            key = _key(Key)
            old = table.get(key)
            self._check(
                "DeleteItem",
                old,
                ConditionExpression,
                names=ExpressionAttributeNames,
                values=ExpressionAttributeValues,
                on_failure=ReturnValuesOnConditionCheckFailure,
            )
            table.pop(key, None)
            return {"Attributes": old} if ReturnValues == "ALL_OLD" and old else {}

    # -- plumbing -------------------------------------------------------------------------

    def _table(self, name: str) -> dict[str, Item]:
        return self.tables.setdefault(name, {})

    def _check(
        self,
        operation: str,
        old: Item | None,
        expression: str | None,
        *,
        names: Names | None,
        values: Values | None,
        on_failure: str,
    ) -> None:
        if expression is None:
            return
        condition = self._conditions.get(expression)
        if condition is None:
            condition = self._conditions[expression] = _compile_condition(expression)
        if condition(old, names or {}, values or {}):
            return
        response: dict[str, Any] = {
            "Error": {
                "Code": "ConditionalCheckFailedException",
                "Message": "The conditional request failed",
            }
        }
        if on_failure == "ALL_OLD" and old is not None:
            response["Item"] = dict(old)
        raise ClientError(response, operation)  # type: ignore[arg-type]


def _key(key: Item) -> str:
    return _first_string(key)


def _first_string(item: Item) -> str:
    # Both libraries' tables here have a single string partition key, written first.
    return next(iter(item.values()))["S"]


# -- expressions ----------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"cannot tokenise {text[position:]!r} in {text!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected.upper()):
            raise ValueError(f"expected {expected or 'a token'} at {self.at} in {self.text!r}")
        self.at += 1
        return token

    # condition := and (OR and)*
    def condition(self) -> Condition:
        parts = [self.conjunction()]
        while (self.peek() or "").upper() == "OR":
            self.take()
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda item, names, values: any(part(item, names, values) for part in parts)

    def conjunction(self) -> Condition:
        parts = [self.unary()]
        while (self.peek() or "").upper() == "AND":
            self.take()
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda item, names, values: all(part(item, names, values) for part in parts)

    def unary(self) -> Condition:
        token = self.peek() or ""
        if token.upper() == "NOT":
            self.take()
            inner = self.unary()
            return lambda item, names, values: not inner(item, names, values)
        if token == "(":
            self.take()
            inner = self.condition()
            self.take(")")
            return inner
        if token in ("attribute_exists", "attribute_not_exists"):
            self.take()
            self.take("(")
            path = self.take()
            self.take(")")
            exists = token == "attribute_exists"
            return lambda item, names, values: (
                (item is not None and _name(path, names) in item) == exists
            )
        left = self.operand()
        operator = self.take()
        right = self.operand()
        compare = _COMPARISONS[operator]

        def comparison(item: Item | None, names: Names, values: Values) -> bool:
            a, b = left(item, names, values), right(item, names, values)
            if a is None or b is None:
                return False
            return compare(_scalar(a), _scalar(b))

        return comparison

    def operand(self) -> Operand:
        token = self.take()
        if token.startswith(":"):
            return lambda item, names, values: values[token]
        return lambda item, names, values: None if item is None else item.get(_name(token, names))

    # value := term ((+|-) term)?
    def value(self) -> Operand:
        left = self.term()
        if self.peek() in ("+", "-"):
            sign = 1 if self.take() == "+" else -1
            right = self.term()

            def arithmetic(item: Item | None, names: Names, values: Values) -> dict[str, str]:
                a, b = left(item, names, values), right(item, names, values)
                assert a is not None
                assert b is not None
                return {"N": str(_number(a["N"]) + sign * _number(b["N"]))}

            return arithmetic
        return left

    def term(self) -> Operand:
        if self.peek() == "if_not_exists":
            self.take()
            self.take("(")
            path = self.take()
            self.take(",")
            default = self.operand()
            self.take(")")
            return lambda item, names, values: (
                item[_name(path, names)]
                if item is not None and _name(path, names) in item
                else default(item, names, values)
            )
        return self.operand()


def _compile_condition(text: str) -> Condition:
    parser = _Parser(text)
    condition = parser.condition()
    if parser.peek() is not None:
        raise ValueError(f"unparsed {parser.tokens[parser.at :]} in {text!r}")
    return condition


def _compile_update(text: str) -> Callable[[Item, Names, Values], list[str]]:
    """The update as a function that applies it and returns the attribute names it touched."""
    parser = _Parser(text)
    sets: list[tuple[str, Operand]] = []
    removals: list[str] = []
    additions: list[tuple[str, Operand]] = []
    while parser.peek() is not None:
        clause = parser.take().upper()
        while True:
            path = parser.take()
            if clause == "SET":
                parser.take("=")
                sets.append((path, parser.value()))
            elif clause == "REMOVE":
                removals.append(path)
            elif clause == "ADD":
                additions.append((path, parser.operand()))
            else:
                raise ValueError(f"unsupported clause {clause} in {text!r}")
            if parser.peek() != ",":
                break
            parser.take()

    def update(item: Item, names: Names, values: Values) -> list[str]:
        computed = [(_name(path, names), value(item, names, values)) for path, value in sets]
        for name, new in computed:
            assert new is not None
            item[name] = new
        touched = [name for name, _ in computed]
        for path in removals:
            touched.append(_name(path, names))
            item.pop(touched[-1], None)
        for path, value in additions:
            name, amount = _name(path, names), value(item, names, values)
            assert amount is not None
            current = _number(item[name]["N"]) if name in item else 0
            item[name] = {"N": str(current + _number(amount["N"]))}
            touched.append(name)
        return touched

    return update


def _name(path: str, names: Names) -> str:
    return names[path] if path.startswith("#") else path


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _scalar(value: dict[str, str]) -> int | float | str:
    if "N" in value:
        return _number(value["N"])
    return value["S"]


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
