"""Turning a function's arguments into the key stored in the lock table.

The stored key is ``namespace#key``. DynamoDB refuses partition keys over 2048 bytes, so a
longer key is replaced by a readable prefix plus the SHA-256 of the whole key: distinct keys
stay distinct, and an operator still recognises the item. :func:`jmespath_key` builds a key
function from a JMESPath expression, with Powertools' compound keys and JSON functions.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import functools
import gc
import gzip
import hashlib
import inspect
import json
import re
import threading
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from idemlock.errors import (
    ConfigurationError,
    EventError,
    FingerprintError,
    InvalidKeyError,
    MissingKeyError,
)

MAX_KEY_BYTES = 2048
"""DynamoDB's limit on a partition key value, in UTF-8 bytes."""

READABLE_PREFIX_BYTES = 512
"""How much of an over-long key is kept, readable, in front of its hash."""

SEPARATOR = "#"
HASH_MARK = "sha256:"


def default_namespace(function: Callable[..., Any]) -> str:
    """The namespace of a function that was given none: its module and qualified name.

    Renaming or moving the function changes it, so pass ``namespace=`` in production. Two
    different functions never share it silently: a second function with the same module and
    qualified name (two lambdas of one module; a factory's handler made again while the first
    lives, over other values) is a :class:`ConfigurationError` naming both, since each would
    replay the other's results. The same code made again over the same values (a module
    reloaded, a test run twice) is the same function. Callable objects are named by their class.
    """
    module = getattr(function, "__module__", None) or "__main__"
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    namespace = f"{module}.{name}"
    made = _Made.of(function)
    with _named_lock:
        first = _named.get(namespace)
        if first is not None and not first.same_as(made):
            raise ConfigurationError(
                f"{_where(function)} and {_where(first.function())} would share the default "
                f"namespace {namespace!r}, and each would return the other's stored results: "
                "pass namespace= to each (a name that stays when the code moves)"
            )
        _named[namespace] = made
    return namespace


class _Made(NamedTuple):
    """What tells two functions of one name apart: their code, and what they close over."""

    code: object
    """The function's code object (a callable object's class)."""
    function: Callable[[], Any]
    """The function, while it lives (a weak reference), else ``None``."""
    closure: tuple[int, ...]
    """The identities of the values it closes over."""

    @classmethod
    def of(cls, function: Callable[..., Any]) -> _Made:
        code = getattr(function, "__code__", None) or type(function)
        cells = getattr(function, "__closure__", None) or ()
        try:
            alive: Callable[[], Any] = weakref.ref(function)
        except TypeError:  # no weak reference: told apart by its code alone
            alive = _gone
        return cls(code, alive, tuple(id(_contents(cell)) for cell in cells))

    def same_as(self, other: _Made) -> bool:
        """Whether ``other`` is this function made again (not another one of its name)."""
        if self.code != other.code:  # equal code: a module reloaded compiles equal code again
            return False
        if self.closure == other.closure or self.function() is None:
            return True
        gc.collect()  # only here: a first kept by nothing but a reference cycle is gone
        return self.function() is None


def _gone() -> None:
    return None


def _contents(cell: Any) -> object:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell (a name bound later in the enclosing scope)
        return None


_named: dict[str, _Made] = {}
"""How each default namespace's function was made."""
_named_lock = threading.Lock()


def _where(function: Callable[..., Any] | None) -> str:
    """``function`` as a reader finds it: its name, file and line."""
    if function is None:
        return "a function made before"
    code = getattr(function, "__code__", None)
    name = getattr(function, "__qualname__", None) or repr(function)
    if code is None:
        return name
    return f"{name} ({code.co_filename}:{code.co_firstlineno})"


_HASHED = re.compile(f"{SEPARATOR}{HASH_MARK}[0-9a-f]{{64}}$")


def storage_key(namespace: str, key: str) -> str:
    """The key as stored: ``namespace#key``, hashed with a readable prefix when too long.

    A key that already ends like a hashed one (``#sha256:<64 hex>``) is hashed too, so that no
    short key can be spelled as a long key's stored form and share its item.
    """
    full = f"{namespace}{SEPARATOR}{key}"
    if len(full) <= MAX_KEY_BYTES // 4 and HASH_MARK not in full:
        return full  # the common case, on every call: short (4 bytes a character at most), plain
    encoded = full.encode("utf-8")
    if len(encoded) <= MAX_KEY_BYTES and not _HASHED.search(full):
        return full
    digest = hashlib.sha256(encoded).hexdigest()
    # Cut on a character boundary: errors="ignore" drops a split multi-byte tail.
    prefix = encoded[:READABLE_PREFIX_BYTES].decode("utf-8", errors="ignore")
    return f"{prefix}{SEPARATOR}{HASH_MARK}{digest}"


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
    try:
        key = key_fn(*args, **kwargs)
    except (LookupError, TypeError, AttributeError) as exc:
        function_name = _name_of(function)
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
    if type(key) is str and key and key.isascii():
        return key  # the common case, on every call: plain text that is surely storable
    return _checked_key(key, _name_of(function))


def _checked_key(key: object, function_name: str) -> str:
    """``key`` as text if it is a usable idempotency key, else the error saying why not."""
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
    try:
        text = str(key)  # ints past Python's 4300-digit limit refuse to become text
        text.encode("utf-8")  # a lone surrogate cannot be stored
    except ValueError as exc:  # UnicodeEncodeError is a ValueError
        raise InvalidKeyError(
            f"the key function of {function_name} returned a key that cannot be stored: {exc}",
            function=function_name,
        ) from exc
    return text


def _name_of(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


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
        ).encode("utf-8")
    except (LookupError, TypeError, AttributeError, ValueError, RecursionError) as exc:
        raise FingerprintError(
            f"the payload fingerprint could not be computed: {type(exc).__name__}: {exc}"
        ) from exc
    return hashlib.sha256(canonical).hexdigest()


def _canonical_default(value: object) -> object:
    """Encode the non-JSON types that events commonly carry (DynamoDB numbers, sets, binary)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def jmespath_key(expression: str) -> Callable[..., str]:
    """A key function that reads the JMESPath ``expression`` from its first argument.

    The expression is compiled now, so a typo is a :class:`ConfigurationError` when the handler
    is decorated, not on its first event. It may end in a multi-select list or hash
    (``[refund_id, customer_id]``, ``{refund: refund_id, customer: customer_id}``): a compound
    key, written as compact JSON. Powertools' ``powertools_json``, ``powertools_base64`` and
    ``powertools_base64_gzip`` decode text inside the path (``powertools_json(body).order_id``).
    The key function raises :class:`EventError` when the expression finds nothing, and
    :class:`InvalidKeyError` when it finds an object, a list, or a boolean alone.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigurationError(
            f"a JMESPath expression must be a non-empty string: {expression!r}"
        )
    jmespath = _jmespath()
    try:
        compiled = jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ConfigurationError(f"invalid JMESPath expression {expression!r}: {exc}") from exc
    functions = _powertools_functions()
    _check_jmespath_functions(expression, compiled.parsed, functions)
    options = jmespath.Options(custom_functions=functions())
    return _JMESPathKey(expression, compiled, options, compound=_is_compound(compiled.parsed))


def _jmespath() -> Any:
    """The ``jmespath`` package, imported on first use.

    It comes with botocore, but a process that never builds a JMESPath key should not pay for
    importing it (Lambda cold starts).
    """
    # jmespath ships no type information: everything taken from it is Any.
    import jmespath  # type: ignore[import-untyped]  # noqa: PLC0415  (deferred, see above)
    import jmespath.exceptions  # type: ignore[import-untyped]  # noqa: PLC0415
    import jmespath.functions  # type: ignore[import-untyped]  # noqa: PLC0415

    return jmespath


def _check_jmespath_functions(expression: str, node: Any, functions: Any) -> None:
    """Refuse unknown functions and wrong argument counts, which jmespath finds only at search."""
    table = functions.FUNCTION_TABLE
    pending = [node]
    while pending:
        current = pending.pop()
        if not isinstance(current, dict):
            continue
        pending.extend(current.get("children", ()))
        if current.get("type") != "function_expression":
            continue
        name, given = current.get("value"), len(current.get("children", ()))
        if name not in table:
            raise ConfigurationError(
                f"invalid JMESPath expression {expression!r}: unknown function {name}()"
            )
        signature = table[name]["signature"]
        variadic = bool(signature) and bool(signature[-1].get("variadic"))
        if given < len(signature) or (given > len(signature) and not variadic):
            raise ConfigurationError(
                f"invalid JMESPath expression {expression!r}: {name}() takes "
                f"{len(signature)}{' or more' if variadic else ''} argument(s), not {given}"
            )


def _is_compound(node: dict[str, Any]) -> bool:
    """Whether the expression's value is a multi-select list or hash: a compound key.

    A projection (``lines[*].sku``) also yields a list, but of as many values as the event has:
    no key.
    """
    while node["type"] in ("subexpression", "pipe"):
        node = node["children"][-1]
    return node["type"] in ("multi_select_list", "multi_select_dict")


class _DecodeError(Exception):
    """A Powertools function met text it cannot decode; becomes an :class:`EventError`."""


@functools.cache
def _powertools_functions() -> Any:
    """The JMESPath functions plus Powertools' three decoders, by Powertools' names.

    Powertools' idempotency evaluates ``event_key_jmespath`` with these; having them here lets
    its expressions carry over unchanged. A class made on first use, as jmespath is imported.
    """
    jmespath = _jmespath()
    text_argument: Callable[[Callable[..., Any]], Callable[..., Any]] = (
        jmespath.functions.signature({"types": ["string"]})
    )

    functions: Any = jmespath.functions.Functions  # jmespath is untyped: its classes are Any

    class PowertoolsFunctions(functions):  # type: ignore[misc]  # subclassing Any
        @text_argument
        def _func_powertools_json(self, value: str) -> Any:
            try:
                return json.loads(value)
            except ValueError as exc:
                raise _DecodeError(f"powertools_json(): not JSON text: {exc}") from exc

        @text_argument
        def _func_powertools_base64(self, value: str) -> str:
            return _text(_base64(value, "powertools_base64"), "powertools_base64")

        @text_argument
        def _func_powertools_base64_gzip(self, value: str) -> str:
            compressed = _base64(value, "powertools_base64_gzip")
            try:
                data = gzip.decompress(compressed)
            except (OSError, EOFError, ValueError) as exc:  # BadGzipFile, zlib.error, truncated
                raise _DecodeError(f"powertools_base64_gzip(): not gzip data: {exc}") from exc
            return _text(data, "powertools_base64_gzip")

    return PowertoolsFunctions


def _base64(value: str, function: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _DecodeError(f"{function}(): not base64: {exc}") from exc


def _text(data: bytes, function: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _DecodeError(f"{function}(): not UTF-8 text: {exc}") from exc


class _JMESPathKey:
    """The key function :func:`jmespath_key` returns: a class, for a repr naming the expression."""

    __slots__ = ("_compiled", "_compound", "_options", "expression")

    def __init__(self, expression: str, compiled: Any, options: Any, *, compound: bool) -> None:
        self.expression = expression
        self._compiled = compiled
        self._options = options
        self._compound = compound

    def __repr__(self) -> str:
        return f"jmespath_key({self.expression!r})"

    def __call__(self, event: object, /, *args: object, **kwargs: object) -> str:
        """The key found in ``event``; the other arguments (the Lambda context) are ignored."""
        errors = _jmespath().exceptions
        try:
            value = self._compiled.search(event, options=self._options)
        except errors.JMESPathTypeError as exc:  # a function met data of the wrong type
            raise EventError(
                f"the JMESPath expression does not fit the event: {exc}", path=self.expression
            ) from exc
        except _DecodeError as exc:
            raise EventError(str(exc), path=self.expression) from exc
        except errors.JMESPathError as exc:
            raise ConfigurationError(f"{self!r} cannot be evaluated: {exc}") from exc
        if self._compound and isinstance(value, (list, dict)):
            return self._compound_key(value)
        if value is None or value == "":
            raise EventError(
                f"the JMESPath expression found {'nothing' if value is None else 'an empty string'}"
                " in the event",
                path=self.expression,
            )
        if isinstance(value, str):
            return value
        if _is_number(value):
            return str(value)
        if isinstance(value, bool):
            # True is no key alone: every event would share one of two keys.
            raise InvalidKeyError(
                f"{self!r} found a boolean; alone it would give every event one of two keys: "
                "combine it with a field that names the event ([order_id, flag])"
            )
        raise InvalidKeyError(
            f"{self!r} found a {type(value).__name__} in the event; a key must be a string "
            "or a number: select a single field, or several with a multi-select ([a, b])"
        )

    def _compound_key(self, value: list[Any] | dict[str, Any]) -> str:
        """A multi-select's members as compact JSON: ``["r-1","c-9"]``.

        A member the event lacks is ``null``, as Powertools keeps it; none found at all is no key.
        """
        members = value.values() if isinstance(value, dict) else value
        if all(member is None or member == "" for member in members):
            raise EventError(
                "the JMESPath expression found none of its members in the event",
                path=self.expression,
            )
        for member in members:
            if not (member is None or isinstance(member, (str, bool)) or _is_number(member)):
                raise InvalidKeyError(
                    f"{self!r} found a {type(member).__name__} as a member; each member of a "
                    "compound key must be a string, a number, a boolean or null"
                )
        try:
            return json.dumps(
                value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str
            )
        except ValueError as exc:  # NaN or infinity
            raise InvalidKeyError(f"{self!r} found a member that is no key: {exc}") from exc


def _is_number(value: object) -> bool:
    """An int, float or Decimal, and not a bool (which Python counts as an int)."""
    return not isinstance(value, bool) and isinstance(value, (int, float, decimal.Decimal))
