"""``idemlock.step()``: recovery points inside one idempotent call.

::

    @idempotent(lambda order: order["id"])
    def checkout(order):
        charge_id = idemlock.step("charge", charge_card, order)   # runs once per key, ever
        idemlock.step("email", send_receipt, order, charge_id)
        return charge_id

A step runs ``fn(*args, **kwargs)`` and records its result in the key's item (conditioned on
the call's claim) before the body goes on. When the body later fails, or its lease runs out and
another invocation takes the key over, the next run of the key returns each recorded step's
result without calling ``fn``, and runs the rest. Results follow the rules of a body's result.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, overload

from idemlock._recovery import CURRENT_RUN, Recovery
from idemlock._results import close_unrun
from idemlock.errors import StepError

__all__ = ["step", "step_async"]

P = ParamSpec("P")
R = TypeVar("R")


def step(name: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``fn(*args, **kwargs)`` once per key, ever: its recorded result on later runs.

    Raises :class:`~idemlock.errors.StepError` outside an ``@idempotent`` body (or a record
    handler), for a name used twice in one run, or for an ``fn`` returning an awaitable (use
    :func:`step_async`); :class:`~idemlock.errors.LockLostError` if another invocation took
    the key over before the step's result was recorded.
    """
    run = _current(name)
    replay, value = run.enter(name)
    if replay:
        return value  # type: ignore[no-any-return]
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):
        close_unrun(value)
        raise StepError(
            f"step {name!r}: {getattr(fn, '__qualname__', fn)!r} returned an awaitable; "
            "in an async body use `await idemlock.step_async(...)`"
        )
    run.record(name, value)
    return value


@overload
async def step_async(
    name: str, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
) -> R: ...


@overload
async def step_async(name: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...


async def step_async(name: str, fn: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs) -> Any:
    """:func:`step` in an ``async`` body: ``fn`` may be ``async``.

    The record is written from a worker thread, off the event loop.
    """
    run = _current(name)
    replay, value = run.enter(name)
    if replay:
        return value
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):
        value = await value
    await asyncio.to_thread(run.record, name, value)
    return value


def _current(name: str) -> Recovery:
    run = CURRENT_RUN.get()
    if run is None:
        raise StepError(
            f"idemlock.step({name!r}) ran outside an idempotent body: call it from a function "
            "decorated with @idempotent (or a record handler of @idempotent_records), while "
            "it runs"
        )
    return run
