"""Drivers: perform the protocol's steps, with direct calls or beside an event loop.

:func:`advance` is the one place a protocol is resumed (a send, or a throw of what a step
raised); :func:`drive_sync`, :func:`drive_async` and the batch scheduler differ only in where
they perform each step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

from idemlock._steps import BodyFailed, RunBody, Step, Steps

R = TypeVar("R")


class Done(NamedTuple):
    """A finished protocol: its value, or the body's own exception to raise as it was raised."""

    value: Any
    body_error: BaseException | None = None

    def result(self) -> Any:
        """The value, or the body's exception raised.

        Raised here, outside any ``except``, so that the body's exception comes back as it was
        raised: its ``__context__`` is not set to our :class:`BodyFailed`.
        """
        if self.body_error is not None:
            raise self.body_error
        return self.value


def advance(steps: Steps, sent: Any = None, error: BaseException | None = None) -> Step | Done:
    """Resume the protocol with a step's answer (or what it raised): its next step, or done.

    Whatever else the protocol raises (a store error, a lost lock) comes out of here.
    """
    try:
        return steps.send(sent) if error is None else steps.throw(error)
    except StopIteration as stop:
        return Done(stop.value)
    except BodyFailed as failed:
        return Done(None, failed.error)


def drive_sync(steps: Steps, body: Callable[[], R]) -> R:
    """Run the protocol with direct calls."""
    step = advance(steps)
    while not isinstance(step, Done):
        sent: Any = None
        error: BaseException | None = None
        if isinstance(step, RunBody):
            try:
                step.renew()  # a claim answered late; a failure here is the body's too
                with step.holding():  # its heartbeat may fail to start: the body's failure
                    sent = body()
            except BaseException as exc:
                error = BodyFailed(exc)
        else:
            try:
                sent = step.run()
            except BaseException as exc:
                error = exc
        step = advance(steps, sent, error)
    return step.result()  # type: ignore[no-any-return]


async def drive_async(steps: Steps, body: Callable[[], Awaitable[R]]) -> R:
    """Run the protocol with store calls in a worker thread and the body on the event loop.

    A store call runs in a thread, which a cancellation cannot stop: a claim cancelled in flight
    still lands. So the driver waits for what it did (shielded), lets the protocol see it, and
    cancels at the next step instead: a landed claim is released at once, rather than blocking
    the key for its whole lease.
    """
    loop = asyncio.get_running_loop()
    cancelled: BaseException | None = None
    step = advance(steps)
    while not isinstance(step, Done):
        sent: Any = None
        error: BaseException | None = None
        if isinstance(step, RunBody):
            if cancelled is not None:
                error = cancelled  # the body never starts; the protocol releases the claim
            else:
                sent, error = await _run_async_body(step, body)
            step = advance(steps, sent, error)
            continue
        call = loop.run_in_executor(None, step.run)
        try:
            sent = await asyncio.shield(call)
        except asyncio.CancelledError as exc:
            if cancelled is not None:
                raise  # cancelled again while finishing: give up; the lease bounds the claim
            cancelled = exc
            sent, error = await _landed(call)
        except BaseException as exc:
            error = exc
        step = advance(steps, sent, error)
    if cancelled is not None and step.body_error is None:
        raise cancelled from None
    return step.result()  # type: ignore[no-any-return]


async def _landed(call: asyncio.Future[Any]) -> tuple[Any, BaseException | None]:
    """What a store call cancelled in flight did, once it lands (a second cancellation ends it)."""
    try:
        return await asyncio.shield(call), None
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        return None, exc


async def _run_async_body(
    step: RunBody, body: Callable[[], Awaitable[Any]]
) -> tuple[Any, BodyFailed | None]:
    """The body's value, or its exception wrapped.

    Its heartbeat beats from its own thread; stopping it is awaited, so the loop runs on. A
    lease renewed before the body (a claim answered late) is renewed from a worker thread.
    """
    if step.renewal is not None and step.renewal.due():
        try:
            await asyncio.get_running_loop().run_in_executor(None, step.renew)
        except BaseException as exc:
            return None, BodyFailed(exc)
    with step.holding(awaited=True):
        try:
            if step.heartbeat is not None:
                step.heartbeat.start()
            return await body(), None
        except BaseException as exc:
            return None, BodyFailed(exc)
        finally:
            if step.heartbeat is not None:
                await step.heartbeat.stop_async()
