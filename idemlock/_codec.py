"""Results as stored: readable JSON, with the values JSON lacks tagged, replayed as returned.

A result becomes JSON text (:func:`encode_result`) and comes back (:func:`decode_result`) as the
types the function returned: ``Decimal``, ``datetime``/``date``/``time``/``timedelta``, ``UUID``,
``bytes``, sets and tuples are tagged, e.g. ``{"__idemlock__": "decimal", "v": "1.10"}``;
dataclasses, NamedTuples, pydantic models and Enums are stored as their fields (or value) and
rebuilt from the return annotation (:func:`result_type_of`) or ``result_type=``. Plain JSON
results are written exactly as before tags existed, so items written by earlier versions read
back unchanged. The rules, in full, are in docs/concepts.md ("Stored results").

Cold start: ``uuid``, ``dataclasses`` and ``zoneinfo`` are not imported here. A value can only
be a UUID, a dataclass or a zone if its module is loaded already, so the writer asks
``sys.modules``; the reader imports them when a stored value needs one.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import math
import sys
import types
import typing
from base64 import b64decode, b64encode
from binascii import Error as Base64Error
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final, TypeVar

from idemlock.errors import UnreadableResultError, UnstorableValueError

logger = logging.getLogger("idemlock")

TAG: Final = "__idemlock__"
"""The key that marks a tagged value: ``{"__idemlock__": name, "v": payload}``, nothing else."""

_A = TypeVar("_A")
_R = TypeVar("_R")
_JSON = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))
"""Strict, compact JSON, byte for byte what results were written as before tags."""

_SAFE_INT_BITS: Final = 14_000
"""Ints up to this many bits always fit Python's int-to-text limit (4,300 digits by default)."""


# --- writing ---------------------------------------------------------------------------------


def encode_result(value: object, *, key: str, result_type: object = None) -> str:
    """``value`` as the JSON text a store keeps for ``key``.

    Raises :class:`~idemlock.errors.UnstorableValueError` naming where in ``value`` a value
    without a stored form is, and its type. Logs a WARNING when ``value`` holds a class instance
    (dataclass, NamedTuple, model, Enum) but no ``result_type`` says how to rebuild it.
    """
    try:
        text, flattened = _on_a_fresh_stack(_encode, value)
    except _Unencodable as exc:
        raise UnstorableValueError(
            key, path=exc.path_text(), type_name=exc.type_name, why=exc.why
        ) from exc.__cause__
    except RecursionError:
        raise UnstorableValueError(
            key, path="result", type_name=_type_name(type(value)), why=_TOO_DEEP
        ) from None
    if flattened is not None and result_type is None:
        logger.warning(
            "the result for key %r holds a %s, stored as its fields: a duplicate gets them as "
            "plain values unless the function's return annotation or result_type= names it",
            key,
            flattened,
        )
    return text


_TOO_DEEP: Final = "is nested deeper than Python's recursion limit lets idemlock walk"


def _encode(value: object) -> tuple[str, str | None]:
    """The stored text, and the first class instance stored as plain fields (if any).

    Most results are plain JSON: json's C encoder writes them, and one loop checks that they
    replay as returned. That is the text the walk would write, at a third of its CPU (a 1 KB
    result: ~130 µs instead of ~300 µs here). Anything else (a tagged value, a NaN, a cycle, a
    lone surrogate) takes the walk, which writes tags and names what cannot be stored.
    """
    try:
        text = _JSON.encode(value)
        plain = _plain(value) and (text.isascii() or _is_utf8(text))
    except (TypeError, ValueError):
        plain = False
    if plain:
        return text, None
    walk = _Walk()
    return _JSON.encode(walk.tree(value)), walk.flattened


_PLAIN_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _plain(value: object) -> bool:
    """Whether json wrote ``value`` as it replays: plain types only, string keys, no tag shape.

    Called once json encoded it, so it has no cycle. A loop, not recursion: json's encoder may
    have gone deeper than a recursive walk could.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            if _is_tag(item) or any(type(key) is not str for key in item):
                return False
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif type(item) not in _PLAIN_SCALARS:
            return False
    return True


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the walk says where
        return False
    return True


def _on_a_fresh_stack(function: Callable[[_A], _R], argument: _A) -> _R:
    """``function(argument)``, retried on a new thread when the caller's stack is too deep.

    A result stored from a shallow stack and replayed from a deep one (or the reverse) then
    behaves the same: each walk gets a whole stack. A second ``RecursionError`` propagates.
    """
    try:
        return function(argument)
    except RecursionError:
        with ThreadPoolExecutor(max_workers=1) as fresh_stack:
            return fresh_stack.submit(function, argument).result()


class _Unencodable(Exception):
    """A value without a stored form; ``inside`` adds, on the way out, where it sits.

    An internal signal: :func:`encode_result` turns it into ``UnstorableValueError``.
    """

    def __init__(self, kind: type, why: str) -> None:
        super().__init__(why)
        self.type_name = _type_name(kind)
        self.why = why
        self.parts: list[str] = []

    def inside(self, part: str) -> _Unencodable:
        self.parts.append(part)
        return self

    def path_text(self) -> str:
        return "result" + "".join(reversed(self.parts))


def _type_name(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _tag(name: str, payload: object) -> dict[str, object]:
    return {TAG: name, "v": payload}


def _is_tag(members: Mapping[Any, Any]) -> bool:
    """Whether a dict has the tag's shape: exactly the keys ``__idemlock__`` and ``v``."""
    return len(members) == 2 and TAG in members and "v" in members  # noqa: PLR2004


def _datetime_text(value: datetime) -> str:
    """ISO 8601, and a ``zoneinfo`` zone's name in brackets after it (RFC 9557).

    ``2026-03-29T03:00:00+02:00[Europe/Paris]``: the replay has the zone, not just the offset.
    """
    text = value.isoformat()
    zoneinfo = sys.modules.get("zoneinfo")
    if zoneinfo is not None and isinstance(value.tzinfo, zoneinfo.ZoneInfo) and value.tzinfo.key:
        return f"{text}[{value.tzinfo.key}]"
    return text


_WRITERS: Final[dict[type, Callable[[Any], dict[str, object]]]] = {
    # datetime before date: a datetime is a date, and the first match of a subclass wins.
    Decimal: lambda value: _tag("decimal", str(value)),
    datetime: lambda value: _tag("datetime", _datetime_text(value)),
    date: lambda value: _tag("date", value.isoformat()),
    time: lambda value: _tag("time", value.isoformat()),
    timedelta: lambda value: _tag("timedelta", [value.days, value.seconds, value.microseconds]),
    bytes: lambda value: _tag("bytes", b64encode(value).decode("ascii")),
}
"""Values that are one JSON string (or list of ints) under a tag, by type."""


class _Walk:
    """One walk from a result to the tree of plain JSON values that ``json`` writes.

    Recursive: two frames per level of nesting (a container, then its members), so about 490
    levels on a whole stack; plain JSON, which json's C encoder writes alone, goes twice as deep.
    """

    def __init__(self) -> None:
        self.on_path: set[int] = set()
        """The containers being walked: meeting one again is a circular reference."""
        self.flattened: str | None = None
        """The first class instance stored as plain fields (its type name), if any."""

    def tree(self, value: object) -> object:  # noqa: PLR0911  (one return per kind)
        # Subclasses of str, int and float (IntEnum, StrEnum) are written as their base type,
        # as json writes them, and replay equal to what was returned.
        if isinstance(value, str):
            return _text(value)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return _int(value)
        if isinstance(value, float):
            return _float(value)
        if isinstance(value, dict):
            return self.mapping(value, value)
        if isinstance(value, list):
            return self.members(value, value)
        if isinstance(value, tuple):
            if hasattr(type(value), "_fields"):  # a NamedTuple: a tuple, without its names
                self.flat(type(value))
            return _tag("tuple", self.members(value, value))
        if isinstance(value, (set, frozenset)):
            name = "frozenset" if isinstance(value, frozenset) else "set"
            return _tag(name, self.set_members(value))
        return self.other(value)

    def other(self, value: Any) -> object:
        """Typed scalars, and the classes stored as their fields or value."""
        for base, write in _WRITERS.items():
            if isinstance(value, base):
                return write(value)
        kind = type(value)
        if isinstance(value, enum.Enum):
            self.flat(kind)
            return self.tree(value.value)
        uuid = sys.modules.get("uuid")
        if uuid is not None and isinstance(value, uuid.UUID):
            return _tag("uuid", str(value))
        if hasattr(kind, "__dataclass_fields__"):
            self.flat(kind)
            return self.mapping(value, _dataclass_fields(value), dotted=True)
        if callable(getattr(kind, "model_validate", None)) and callable(
            getattr(value, "model_dump", None)
        ):
            self.flat(kind)
            return self.model(value)
        raise _Unencodable(kind, _NO_STORED_FORM)

    def flat(self, kind: type) -> None:
        if self.flattened is None:
            self.flattened = _type_name(kind)

    def model(self, value: Any) -> object:
        """A pydantic model's fields: as Python values, else as JSON ones.

        Python values keep Decimal, datetime and the rest; when one has no stored form (a URL
        type, say), pydantic's JSON dump does. The model's ``model_validate`` rebuilds either.
        """
        walking = set(self.on_path)
        try:
            return self.mapping(value, value.model_dump(mode="python"), dotted=True)
        except _Unencodable:
            self.on_path = walking  # forget the containers of the dump that failed
        try:
            fields = value.model_dump(mode="json")
        except Exception as exc:  # pydantic's own serialisation error, whatever its class
            raise _Unencodable(type(value), f"cannot be dumped by pydantic ({exc})") from exc
        return self.mapping(value, fields, dotted=True)

    def enter(self, container: object) -> None:
        if id(container) in self.on_path:
            raise _Unencodable(type(container), "contains itself (a circular reference)")
        self.on_path.add(id(container))

    def members(self, container: object, items: list[Any] | tuple[Any, ...]) -> list[object]:
        self.enter(container)
        tree: list[object] = []
        index = 0
        try:
            for index, member in enumerate(items):  # noqa: B007  (read by the except)
                tree.append(self.tree(member))
        except _Unencodable as exc:
            raise exc.inside(f"[{index}]") from exc.__cause__
        self.on_path.discard(id(container))
        return tree

    def set_members(self, members: set[Any] | frozenset[Any]) -> list[object]:
        self.enter(members)
        try:
            tree = [self.hashable(member) for member in _ordered(members)]
        except _Unencodable as exc:
            raise exc.inside("{…}") from exc.__cause__
        self.on_path.discard(id(members))
        return tree

    def mapping(
        self, container: object, members: Mapping[Any, Any], *, dotted: bool = False
    ) -> object:
        """A dict (or an instance's fields), as a JSON object or a ``dict`` tag.

        A JSON object when its keys are strings and it does not have a tag's shape; else a
        ``dict`` tag holding ``[key, value]`` pairs.
        """
        self.enter(container)
        as_pairs = _is_tag(members) or not all(isinstance(name, str) for name in members)
        pairs: list[object] = []
        tree: dict[str, object] = {}
        name: Any = None
        try:
            for name, member in members.items():
                if as_pairs:
                    pairs.append([self.hashable(name), self.tree(member)])
                else:
                    tree[_text(name)] = self.tree(member)
        except _Unencodable as exc:
            raise exc.inside(f".{name}" if dotted else f"[{name!r}]") from exc.__cause__
        self.on_path.discard(id(container))
        return _tag("dict", pairs) if as_pairs else tree

    def hashable(self, value: object) -> object:
        """A set member or dict key: stored only if it replays hashable (not as a dict)."""
        tree = self.tree(value)
        if not _replays_hashable(tree):
            raise _Unencodable(
                type(value), "is stored as a dict or list, which cannot be a set member or dict key"
            )
        return tree


_NO_STORED_FORM: Final = (
    "has no stored form (idemlock stores JSON values, Decimal, datetime, date, time, "
    "timedelta, UUID, bytes, sets, tuples, dataclasses, NamedTuples, pydantic models and Enums)"
)


def _text(value: str) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            why = f"holds a lone surrogate ({value[exc.start]!r}), which is not UTF-8"
            raise _Unencodable(str, why) from None
    return value


def _int(value: int) -> int:
    if value.bit_length() > _SAFE_INT_BITS:
        try:
            str(value)
        except ValueError as exc:
            raise _Unencodable(int, f"is too long to write as text ({exc})") from None
    return value


def _float(value: float) -> object:
    """A finite float is a JSON number; NaN and the infinities are tagged, as JSON has none."""
    return value if math.isfinite(value) else _tag("float", repr(value))


def _ordered(members: set[Any] | frozenset[Any]) -> list[Any]:
    """A set's members sorted when they sort (a stable, readable stored form), else as met."""
    try:
        return sorted(members)
    except TypeError:
        return list(members)


def _replays_hashable(tree: object) -> bool:
    if isinstance(tree, list):
        return False
    if isinstance(tree, dict):
        if not _is_tag(tree) or tree[TAG] in ("dict", "set"):
            return False
        if tree[TAG] in ("tuple", "frozenset"):
            return all(_replays_hashable(member) for member in tree["v"])
    return True


def _dataclass_fields(value: Any) -> dict[str, object]:
    """A dataclass instance's fields by name (``dataclasses.fields`` leaves out ClassVars)."""
    import dataclasses  # noqa: PLC0415  (loaded whenever a dataclass exists: costs nothing)

    return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}


# --- reading ---------------------------------------------------------------------------------


def decode_result(text: str | None, result_type: object = None, *, key: str) -> Any:
    """The value ``text`` stores (``None`` for no stored result), rebuilt as ``result_type``.

    Raises :class:`~idemlock.errors.UnreadableResultError` naming the problem when ``text`` is
    not JSON, holds a tag it cannot read, or its fields no longer make a ``result_type``.
    """
    if text is None or text == "null":
        return None  # the most common result (a handler that returns nothing)
    if not isinstance(text, str):
        raise UnreadableResultError(key, f"it is a {type(text).__name__}, not JSON text")
    try:
        return _on_a_fresh_stack(_decode, (text, result_type))
    except json.JSONDecodeError as exc:
        raise UnreadableResultError(key, f"it is not JSON ({exc})") from exc
    except _Unreadable as exc:
        raise UnreadableResultError(key, str(exc)) from exc.__cause__
    except RecursionError:
        raise UnreadableResultError(
            key, "it is nested deeper than Python's recursion limit lets idemlock read"
        ) from None


def _decode(text_and_type: tuple[str, object]) -> object:
    text, result_type = text_and_type
    value = _READER.decode(text)
    return value if result_type is None else _as(value, result_type, "result")


class _Unreadable(Exception):
    """Why a stored result cannot be read back (internal: raised as ``UnreadableResultError``)."""


def _untag(members: dict[str, Any]) -> object:
    """The value a decoded JSON object stands for: a tag's value, or the object itself.

    Called by ``json`` for every object, innermost first: a tag's payload is already read.
    """
    if not _is_tag(members):
        return members
    name, payload = members[TAG], members["v"]
    read = _READERS.get(name) if isinstance(name, str) else None
    if read is None:
        raise _Unreadable(
            f"it holds a tag {name!r} this version of idemlock does not know "
            f"(known: {', '.join(_READERS)})"
        )
    try:
        return read(payload)
    except (TypeError, ValueError, ArithmeticError, Base64Error) as exc:
        shown = json.dumps(payload, default=repr)[:80]
        raise _Unreadable(f"its {name!r} tag holds {shown}, which is not one ({exc})") from exc


def _string(payload: object) -> str:
    if not isinstance(payload, str):
        raise TypeError(f"a {type(payload).__name__}, not a string")
    return payload


def _items(payload: object) -> list[Any]:
    if not isinstance(payload, list):
        raise TypeError(f"a {type(payload).__name__}, not a list")
    return payload


def _pairs(payload: object) -> dict[Any, Any]:
    pairs = _items(payload)
    if not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):  # noqa: PLR2004
        raise TypeError("not a list of [key, value] pairs")
    return dict(pairs)


def _timedelta(payload: object) -> timedelta:
    parts = _items(payload)
    if len(parts) != 3 or not all(type(part) is int for part in parts):  # noqa: PLR2004
        raise TypeError("not [days, seconds, microseconds]")
    return timedelta(days=parts[0], seconds=parts[1], microseconds=parts[2])


def _bytes(payload: object) -> bytes:
    return b64decode(_string(payload), validate=True)


def _uuid(payload: object) -> object:
    import uuid  # noqa: PLC0415  (its import costs ~2 ms of cold start: paid by a stored UUID)

    return uuid.UUID(_string(payload))


_NON_FINITE: Final = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _non_finite(payload: object) -> float:
    number = _NON_FINITE.get(_string(payload))
    if number is None:
        raise ValueError("not 'nan', 'inf' or '-inf'")
    return number


def _datetime(payload: object) -> datetime:
    """A stored datetime; a bracketed zone name (RFC 9557) is its ``zoneinfo`` zone."""
    text, _, zone_name = _string(payload).partition("[")
    value = datetime.fromisoformat(text)
    if not zone_name:
        return value
    if not zone_name.endswith("]") or value.tzinfo is None:
        raise ValueError("a zone name needs an offset before it and a closing bracket")
    import zoneinfo  # noqa: PLC0415  (~2 ms of cold start: paid only by a stored zone)

    try:
        zone = zoneinfo.ZoneInfo(zone_name[:-1])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        logger.warning(
            "time zone %r is not known here: replaying %s with its UTC offset only",
            zone_name[:-1],
            text,
        )
        return value
    in_zone = value.replace(tzinfo=zone)
    if in_zone.utcoffset() != value.utcoffset():  # a wall time met twice: the second one
        in_zone = in_zone.replace(fold=1)
    return in_zone


_READERS: Final[dict[str, Callable[[Any], object]]] = {
    "tuple": lambda payload: tuple(_items(payload)),
    "set": lambda payload: set(_items(payload)),
    "frozenset": lambda payload: frozenset(_items(payload)),
    "dict": _pairs,
    "float": _non_finite,
    "decimal": lambda payload: Decimal(_string(payload)),
    "datetime": _datetime,
    "date": lambda payload: date.fromisoformat(_string(payload)),
    "time": lambda payload: time.fromisoformat(_string(payload)),
    "timedelta": _timedelta,
    "uuid": _uuid,
    "bytes": _bytes,
}
"""How each tag's payload becomes its value."""

_READER = json.JSONDecoder(object_hook=_untag)


# --- rebuilding by type ----------------------------------------------------------------------


def _as(value: object, result_type: Any, path: str) -> object:  # noqa: PLR0911
    """``value`` rebuilt as ``result_type`` where that names a class stored as its fields.

    Anything that does not fit the type replays as stored: the function returned it.
    """
    if value is None or result_type is Any:
        return value
    origin = typing.get_origin(result_type)
    arguments = typing.get_args(result_type)
    if origin is typing.Annotated:
        return _as(value, arguments[0], path)
    if origin is typing.Union or origin is types.UnionType:
        return _as_one_of(value, arguments, path)
    if isinstance(origin, type) and _rebuilt(origin):
        return _as_class(value, origin, path)  # a generic class, e.g. Page[Order]
    if origin is not None:
        return _as_members(value, arguments, path)
    if isinstance(result_type, type):
        if _rebuilt(result_type):
            return _as_class(value, result_type, path)
        if hasattr(result_type, "__total__") and isinstance(value, dict):  # a TypedDict
            types_ = _field_types(result_type)
            return {k: _as(v, types_.get(k), f"{path}[{k!r}]") for k, v in value.items()}
        return value
    supertype = getattr(result_type, "__supertype__", None)  # a NewType
    return value if supertype is None else _as(value, supertype, path)


def _rebuilt(cls: type) -> bool:
    """Whether values of ``cls`` are stored as fields or a value and rebuilt by type."""
    return (
        hasattr(cls, "__dataclass_fields__")
        or (issubclass(cls, tuple) and hasattr(cls, "_fields"))
        or issubclass(cls, enum.Enum)
        or callable(getattr(cls, "model_validate", None))
    )


def _as_class(value: object, cls: Any, path: str) -> object:
    """An instance of ``cls`` (an Enum, NamedTuple, dataclass or model) from its stored form."""
    try:
        if issubclass(cls, enum.Enum):
            return cls(value)
        if issubclass(cls, tuple):  # a NamedTuple
            if not isinstance(value, tuple):
                return value
            return cls(*_named_members(value, cls, path))
        if not isinstance(value, dict):
            return value
        if hasattr(cls, "__dataclass_fields__"):
            return cls(**_init_fields(value, cls, path))
        return _model(value, cls)
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise _Unreadable(
            f"{path}: the stored value does not make a {_type_name(cls)} ({exc})"
        ) from exc


def _model(stored: dict[Any, Any], cls: Any) -> object:
    """A model from its stored fields: Python values, or its JSON dump (see ``_Walk.model``).

    A strict model takes a JSON dump only as JSON text: that is the second try.
    """
    try:
        return cls.model_validate(stored)
    except ValueError as first:
        try:
            return cls.model_validate_json(_JSON.encode(stored))
        except (TypeError, ValueError, AttributeError):  # Decimal etc.: Python values after all
            raise first from None


def _init_fields(stored: dict[Any, Any], cls: type, path: str) -> dict[str, object]:
    """The stored fields ``cls.__init__`` takes, each rebuilt by its annotation.

    A field stored but since removed from the class is left out; one added since takes its
    default (or is missing, and the class says so).
    """
    import dataclasses  # noqa: PLC0415  (loaded whenever a dataclass exists: costs nothing)

    types_ = _field_types(cls)
    return {
        field.name: _as(stored[field.name], types_.get(field.name), f"{path}.{field.name}")
        for field in dataclasses.fields(cls)
        if field.init and field.name in stored
    }


def _named_members(stored: tuple[Any, ...], cls: type, path: str) -> list[object]:
    """A NamedTuple's stored members, each rebuilt by its field's annotation."""
    types_ = _field_types(cls)
    names: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    return [
        _as(member, types_.get(name), f"{path}.{name}")
        for name, member in zip(names, stored, strict=False)  # a length mismatch: cls says
    ]


@functools.lru_cache(maxsize=256)
def _field_types(cls: type) -> dict[str, Any]:
    """The annotations of a class's fields, resolved (once per class)."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # a name imported only for type checking, for one
        logger.warning(
            "cannot resolve the field annotations of %s: its fields replay as stored",
            _type_name(cls),
            exc_info=True,
        )
        return {}


def _as_one_of(value: object, members: tuple[Any, ...], path: str) -> object:
    """A union: the first member that rebuilds ``value``; as stored if none needs to.

    ``Optional[Order]`` is ``Order`` for anything but ``None``.
    """
    first_error: _Unreadable | None = None
    fits_as_stored = False
    for member in members:
        try:
            rebuilt = _as(value, member, path)
        except _Unreadable as exc:
            first_error = first_error or exc
            continue
        if rebuilt is not value:
            return rebuilt
        fits_as_stored = True
    if first_error is not None and not fits_as_stored:
        raise first_error
    return value


def _as_members(value: object, arguments: tuple[Any, ...], path: str) -> object:
    """A generic container's members rebuilt by its type arguments (``list[Order]``).

    Only when the stored container has the shape the type says; else it replays as stored.
    """
    if not arguments:
        return value
    if isinstance(value, list) and len(arguments) == 1:
        return [_as(member, arguments[0], f"{path}[{i}]") for i, member in enumerate(value)]
    if isinstance(value, (set, frozenset)) and len(arguments) == 1:
        return type(value)(_as(member, arguments[0], f"{path}{{…}}") for member in value)
    if isinstance(value, dict) and len(arguments) == 2:  # noqa: PLR2004
        key_type, value_type = arguments
        return {
            _as(k, key_type, path): _as(v, value_type, f"{path}[{k!r}]") for k, v in value.items()
        }
    if isinstance(value, tuple):
        if len(arguments) == 2 and arguments[1] is Ellipsis:  # noqa: PLR2004
            arguments = (arguments[0],) * len(value)
        if len(arguments) == len(value):
            return tuple(
                _as(member, tp, f"{path}[{i}]")
                for i, (member, tp) in enumerate(zip(value, arguments, strict=True))
            )
    return value


# --- types known before running ----------------------------------------------------------------


def result_type_of(function: Callable[..., object]) -> Any:
    """What ``function``'s return annotation names, resolved; ``None`` when there is none to use.

    ``None`` for no annotation, ``Any``, ``object``, ``None``, and for an annotation that does
    not resolve at run time (a name imported only for type checking): results then replay as
    stored, and :func:`encode_result` warns if one holds a class instance.
    """
    target: Any = function
    for _ in range(100):  # through functools.wraps layers to the function that was written
        if not hasattr(target, "__wrapped__"):
            break
        target = target.__wrapped__
    annotations = getattr(target, "__annotations__", None)
    if not isinstance(annotations, dict) or "return" not in annotations:
        return None
    only_the_return = types.SimpleNamespace(
        __annotations__={"return": annotations["return"]},
        __globals__=getattr(target, "__globals__", {}),
    )
    try:
        resolved = typing.get_type_hints(only_the_return)["return"]
    except Exception:  # NameError, SyntaxError...: the annotation's own problem
        logger.debug("the return annotation of %r does not resolve", function, exc_info=True)
        return None
    return None if resolved in (Any, object, type(None)) else resolved


def is_typing_form(result_type: object) -> bool:
    """Whether ``result_type`` is a typing form (``list[Order]``, ``Any``, a NewType)."""
    return (
        result_type is Any
        or typing.get_origin(result_type) is not None
        or hasattr(result_type, "__supertype__")
    )


def check_storable_type(result_type: Any) -> str | None:  # noqa: PLR0911
    """Why no value of ``result_type`` can be stored, or ``None`` when some can.

    For a warning at decoration: ``-> Iterator[int]`` or ``-> socket`` can never be stored, while
    ``-> object``, ``-> Mapping[str, Any]`` or a Protocol may hold something storable.
    """
    if result_type is None or result_type is Any or isinstance(result_type, (str, TypeVar)):
        return None
    origin = typing.get_origin(result_type)
    arguments = typing.get_args(result_type)
    if origin is typing.Annotated:
        return check_storable_type(arguments[0])
    if origin is typing.Union or origin is types.UnionType:
        # Optional[Response] warns: that only None can be stored is worth saying.
        reasons = [check_storable_type(m) for m in arguments if m is not type(None)]
        return None if None in reasons else reasons[0]
    if origin is typing.Literal:
        return None
    if origin is not None:
        reason = _class_reason(origin) if isinstance(origin, type) else None
        reasons = [check_storable_type(member) for member in arguments if member is not Ellipsis]
        return next((found for found in (reason, *reasons) if found is not None), None)
    if isinstance(result_type, type):
        return _class_reason(result_type)
    supertype = getattr(result_type, "__supertype__", None)  # a NewType
    return None if supertype is None else check_storable_type(supertype)


_STORED_TYPES: Final = (
    type(None), bool, int, float, str, list, tuple, dict, set, frozenset,
    Decimal, datetime, date, time, timedelta, bytes,
)  # fmt: skip


def _class_reason(cls: type) -> str | None:
    """Why no instance of ``cls`` (nor of what it stands for, if abstract) can be stored."""
    if _rebuilt(cls):
        return None
    uuid = sys.modules.get("uuid")
    stored = _STORED_TYPES if uuid is None else (*_STORED_TYPES, uuid.UUID)
    for kind in stored:
        try:
            if issubclass(cls, kind) or issubclass(kind, cls):
                return None
        except TypeError:  # a Protocol that is not runtime-checkable: it may be anything
            return None
    return f"a {_type_name(cls)} {_NO_STORED_FORM}"
