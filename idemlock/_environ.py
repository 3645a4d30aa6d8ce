"""Environment variables read on every protected call, as ``os.environ.get`` answers, cheaply.

``os.environ.get(name)`` costs about 2 µs for a variable that is not set (the mapping raises and
catches two ``KeyError`` s on the way), and ``IDEMLOCK_DISABLED`` is usually not set but is read
at every call, so that a test may set it late: a tenth of the library's own work per call (see
benchmarks/README.md, "library overhead"). CPython's ``os.environ`` keeps the variables in a
dict, ``_data``, under ``encodekey(name)``: a lookup there costs about 30 ns and sees every change
made through ``os.environ`` (``monkeypatch.setenv``, ``mock.patch.dict``). Anything else in
``os.environ``'s place, or another Python without that dict, is read through its public ``get``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any


class EnvironmentVariable:
    """One variable, read now from whatever ``os.environ`` is now."""

    __slots__ = ("_bound", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        # (the mapping, its dict or None, the key in that dict, the value decoder), replaced as
        # one tuple, so a thread never sees half of a rebinding.
        self._bound: tuple[Mapping[str, str], dict[Any, Any] | None, Any, Callable[[Any], str]]
        self._bound = self._bind(os.environ)

    def get(self) -> str | None:
        """The variable's value, or ``None`` when it is not set."""
        environ = os.environ
        bound = self._bound
        if bound[0] is not environ:  # os.environ itself replaced (mock.patch.object)
            bound = self._bound = self._bind(environ)
        data = bound[1]
        if data is None:
            return environ.get(self.name)
        raw = data.get(bound[2])
        return None if raw is None else bound[3](raw)

    def _bind(
        self, environ: Mapping[str, str]
    ) -> tuple[Mapping[str, str], dict[Any, Any] | None, Any, Callable[[Any], str]]:
        data = getattr(environ, "_data", None)
        encodekey = getattr(environ, "encodekey", None)
        decodevalue = getattr(environ, "decodevalue", None)
        if type(data) is not dict or not callable(encodekey) or not callable(decodevalue):
            return environ, None, None, str
        return environ, data, encodekey(self.name), decodevalue
