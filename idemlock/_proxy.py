"""The wrapt proxy idemlock's decorators make of the functions they protect."""

from __future__ import annotations

from typing import Any

import wrapt


class FunctionProxy(wrapt.FunctionWrapper[..., Any], wrapt.ObjectProxy[Any]):
    """A ``wrapt.FunctionWrapper`` (binding as the function does) that is a ``wrapt.ObjectProxy``.

    wrapt 2 derives its function wrappers from ``wrapt.BaseObjectProxy`` only, while
    ``isinstance(handler, wrapt.ObjectProxy)`` is how code asks whether a callable is a wrapt
    proxy; this class is both (in wrapt 1 the second base adds nothing).
    """
