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
from typing import Any, Final

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
        if bound.environ is not environ or getattr(environ, "_data", None) is not bound.data:
            bound = self._bound = self._bind(environ)
        if bound.key is None:
            return environ.get(self.name)
        raw = bound.data.get(bound.key)
        return None if raw is None else bound.decode(raw)

    def _bind(self, environ: Mapping[str, str]) -> _Binding:
        data = getattr(environ, "_data", None)
        encodekey = getattr(environ, "encodekey", None)
        decodevalue = getattr(environ, "decodevalue", None)
        if (
            type(environ) is not _ENVIRON  # a subclass may answer get() its own way
            or type(data) is not dict
            or not callable(encodekey)
            or not callable(decodevalue)
        ):
            return _Binding(environ, data, None, str)
        return _Binding(environ, data, encodekey(self.name), decodevalue)


class _Binding:
    """How :class:`EnvironmentVariable` reads ``os.environ`` now.

    Replaced as one object, so that a thread never sees half of a rebinding. A small slots
    class, not a named tuple: ``typing.NamedTuple`` would cost this module's import 1.5 ms.
    """

    __slots__ = ("data", "decode", "environ", "key")

    def __init__(
        self, environ: Mapping[str, str], data: Any, key: Any, decode: Callable[[Any], str]
    ) -> None:
        self.environ = environ
        self.data = data
        """``environ._data`` when bound, whatever it is: a new one means bind again."""
        self.key = key
        """The variable's key in ``data``; ``None``: read through ``environ.get`` instead."""
        self.decode = decode
