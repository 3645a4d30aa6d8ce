"""The Lambda invocation the running code serves: :func:`lambda_context` and what it sets.

A decorated function called without the Lambda context (an inner ``@idempotent`` function
called by the handler) still knows the invocation's deadline: an outer idemlock-decorated
handler that was passed the context, or a ``with idemlock.lambda_context(context):`` block,
makes it the context of everything called inside, as Powertools' ``register_lambda_context``
does, but in a :class:`~contextvars.ContextVar`: one per thread, task and invocation, never a
global a warm container keeps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from idemlock.errors import ConfigurationError

logger = logging.getLogger("idemlock")

_CONTEXT: ContextVar[object | None] = ContextVar("idemlock_lambda_context", default=None)
"""The Lambda context of the code running in this context, if an idemlock entry point or a
``lambda_context`` block set one."""


@contextmanager
def lambda_context(context: object) -> Iterator[None]:
    """Make ``context`` the Lambda context of every idemlock call inside the block.

    An ``@idempotent`` function called inside without the context among its arguments gets the
    invocation's deadline all the same: its lease is capped by the remaining time plus the
    grace. The decorators and ``idempotent_http`` do this themselves for what their handler
    calls; this is for a handler that is not decorated. It reaches what runs in this thread,
    and tasks and ``asyncio.to_thread`` calls started inside (they copy the context), not
    threads started by hand.
    """
    if remaining_ms(context) is None:
        raise ConfigurationError(
            "lambda_context() takes the Lambda context (an object whose "
            f"get_remaining_time_in_millis() returns milliseconds), got {type(context).__name__}"
        )
    with _active(context):
        yield


def serving(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> AbstractContextManager[None]:
    """The block a decorated call runs in: the Lambda context among its arguments made active.

    A call passed no context leaves the one active around it (if any) as it is.
    """
    context = find_context(args, kwargs)
    return nullcontext() if context is None else _active(context)


@contextmanager
def _active(context: object) -> Iterator[None]:
    token = _CONTEXT.set(context)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def find_context(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> object | None:
    """The Lambda context among a call's arguments (what has the method), else ``None``.

    Found by its method, not by calling it: the time is read once per call, where the lease is
    chosen, so a context whose time cannot be read is logged once.
    """
    # The context is the last argument of a Lambda handler: look there first.
    candidates: Iterable[object] = (*kwargs.values(), *reversed(args)) if kwargs else reversed(args)
    for candidate in candidates:
        if callable(getattr(candidate, "get_remaining_time_in_millis", None)):
            return candidate
    return None


def invocation_remaining_ms(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int | None:
    """The milliseconds left to the invocation a call serves; ``None`` outside Lambda.

    Read from the context among the call's arguments, else from the one active around it.
    """
    context = find_context(args, kwargs)
    if context is None:
        context = _CONTEXT.get()
    return None if context is None else remaining_ms(context)


def remaining_ms(context: object) -> int | None:
    """A Lambda context's remaining milliseconds (``None``: ``context`` is not one)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    millis = remaining()
    if isinstance(millis, int) or (isinstance(millis, float) and math.isfinite(millis)):
        return int(millis)
    # Never silent: the call then gets lease= (or the default) with no deadline cap.
    logger.warning(
        "%s.get_remaining_time_in_millis() returned %r, not a finite number of milliseconds: "
        "this call's lease is lease= (or the default) with no Lambda deadline cap",
        type(context).__name__,
        millis,
    )
    return None
