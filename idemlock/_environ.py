"""Environment variables read on every protected call, as ``os.environ.get`` answers, cheaply.

``os.environ.get(name)`` costs about 2 µs for a variable that is not set (the mapping raises and
catches two ``KeyError`` s on the way), and ``IDEMLOCK_DISABLED`` is usually not set but is read
at every call, so that a test may set it late: a tenth of the library's own work per call (see
benchmarks/README.md, "library overhead"). CPython's ``os.environ`` keeps the variables in a
dict, ``_data``, under ``encodekey(name)``: a read there costs about 0.1 µs and sees every change
made through ``os.environ`` (``monkeypatch.setenv``, ``mock.patch.dict``). Anything else in
``os.environ``'s place (a subclass too), or another Python without that dict, is read through its
public ``get``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

_ENVIRON: Final = type(os.environ)
"""CPython's ``os._Environ``: the one mapping whose ``_data`` is known to hold the variables."""


class EnvironmentVariable:
    """One variable, read now from whatever ``os.environ`` is now."""

    __slots__ = ("_bound", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._bound = self._bind(os.environ)

    def get(self) -> str | None:
        """The variable's value, or ``None`` when it is not set."""
        environ = os.environ
        bound = self._bound
        # os.environ replaced (mock.patch.object), or the dict inside it: bind again
        if bound.environ is not environ or getattr(environ, "_data", None) is not bound.seen:
            bound = self._bound = self._bind(environ)
        if bound.data is None:
            return environ.get(self.name)
        raw = bound.data.get(bound.key)
        return None if raw is None else bound.decode(raw)

    def _bind(self, environ: Mapping[str, str]) -> _Binding:
        seen = getattr(environ, "_data", None)
        encodekey = getattr(environ, "encodekey", None)
        decodevalue = getattr(environ, "decodevalue", None)
        if (
            type(environ) is not _ENVIRON  # a subclass may answer get() its own way
            or type(seen) is not dict
            or not callable(encodekey)
            or not callable(decodevalue)
        ):
            return _Binding(environ, seen, None, None, str)
        return _Binding(environ, seen, seen, encodekey(self.name), decodevalue)


class _Binding(NamedTuple):
    """How :class:`EnvironmentVariable` reads ``os.environ`` now.

    Replaced as one object, so that a thread never sees half of a rebinding.
    """

    environ: Mapping[str, str]
    seen: object
    """``environ._data`` when bound (``None`` without one): a new one means bind again."""
    data: dict[Any, Any] | None
    """The dict to read, or ``None``: read through ``environ.get``."""
    key: Any
    decode: Callable[[Any], str]
