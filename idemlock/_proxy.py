"""The wrapt proxy idemlock's decorators make of the functions they protect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import wrapt

if TYPE_CHECKING:
    # wrapt's classes take type arguments in its stubs, but at run time only from wrapt 2.2:
    # subscripting them here would refuse every older wrapt that pyproject accepts.
    _FunctionWrapper = wrapt.FunctionWrapper[..., Any]
    _ObjectProxy = wrapt.ObjectProxy[Any]
else:
    _FunctionWrapper = wrapt.FunctionWrapper
    _ObjectProxy = wrapt.ObjectProxy


class FunctionProxy(_FunctionWrapper, _ObjectProxy):
    """A ``wrapt.FunctionWrapper`` (binding as the function does) that is a ``wrapt.ObjectProxy``.

    wrapt 2 derives its function wrappers from ``wrapt.BaseObjectProxy`` only, while
    ``isinstance(handler, wrapt.ObjectProxy)`` is how code asks whether a callable is a wrapt
    proxy; this class is both (in wrapt 1 the second base adds nothing).
    """
