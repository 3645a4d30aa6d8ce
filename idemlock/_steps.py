"""The typed steps the protocol yields, and what a driver does with each.

The protocol (:mod:`idemlock._protocol`) is a generator: it yields a step, a driver performs it
and sends the answer back (or throws what it raised). A store step (:class:`Claim`,
:class:`Complete`, :class:`Release`, :class:`Free`, :class:`Read`, :class:`MarkUnknown`) and a
backoff (:class:`Sleep`) are performed by calling ``run()``; :class:`RunBody` means "run the
wrapped function now". The drivers (:mod:`idemlock._drivers`) and the batch scheduler differ only
in where they perform them.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, NamedTuple

from idemlock._recovery import CURRENT_RUN, Recovery
from idemlock.lock import CURRENT_LOCK, Lock

if TYPE_CHECKING:
    from idemlock._heartbeat import Heartbeat
    from idemlock._leases import Renewal
    from idemlock.item import LockItem
    from idemlock.store import Claim as ClaimRequest
    from idemlock.store import ClaimResult, LockStore


class Claim(NamedTuple):
    """Take the key if it is free: one conditional write; answers the store's ``ClaimResult``."""

    store: LockStore
    request: ClaimRequest

    def run(self) -> ClaimResult:
        """Send the claim."""
        return self.store.claim(self.request)


class Complete(NamedTuple):
    """Mark the key completed with ``result``, if ``owner`` still holds it; answers whether."""

    store: LockStore
    key: str
    owner: str
    now_ms: int
    result: str | None
    expires_at_s: int | None

    def run(self) -> bool:
        """Send the complete."""
        return self.store.complete(
            self.key,
            self.owner,
            now_ms=self.now_ms,
            result=self.result,
            expires_at_s=self.expires_at_s,
        )


class Release(NamedTuple):
    """Delete the key if ``owner`` still holds it; answers whether it did."""

    store: LockStore
    key: str
    owner: str

    def run(self) -> bool:
        """Send the release."""
        return self.store.release(self.key, self.owner)


class MarkUnknown(NamedTuple):
    """Mark ``owner``'s lapsed claim as an unknown outcome; answers whether it did."""

    store: LockStore
    key: str
    owner: str
    now_ms: int

    def run(self) -> bool:
        """Send the mark."""
        return self.store.mark_unknown(self.key, self.owner, now_ms=self.now_ms)


class Read(NamedTuple):
    """Read the key's item (a strongly consistent read, no write); answers it, or ``None``."""

    store: LockStore
    key: str

    def run(self) -> LockItem | None:
        """Send the read."""
        return self.store.get(self.key)


class Free(NamedTuple):
    """Free the key after a failure, keeping its recorded steps, if ``owner`` still holds it."""

    store: LockStore
    key: str
    owner: str
    now_ms: int

    def run(self) -> bool:
        """Send the free."""
        return self.store.free(self.key, self.owner, now_ms=self.now_ms)


class Sleep(NamedTuple):
    """Pause before trying a store call again."""

    seconds: float

    def run(self) -> None:
        """Sleep (an ``async`` driver runs it in a worker thread, as it does the store calls)."""
        time.sleep(self.seconds)


class RunBody:
    """The step that means "run the wrapped function now, holding ``lock``"; then, that run.

    The driver, not the protocol, makes ``lock`` the :func:`current_lock` while the body runs:
    several protocols can be suspended at this step at once (a batch), and only the driver knows
    which body is running. It runs the body inside :meth:`holding`, which also notes when the
    body started and ended (:attr:`ms`; a batch runs it long after its claim) for the events.
    One run, one block: the block is not re-entrant.
    """

    __slots__ = (
        "_beat",
        "_run_token",
        "_token",
        "end",
        "heartbeat",
        "lock",
        "recovery",
        "renewal",
        "start",
    )

    def __init__(
        self,
        lock: Lock | None,
        heartbeat: Heartbeat | None = None,
        recovery: Recovery | None = None,
        renewal: Renewal | None = None,
    ) -> None:
        self.lock = lock
        self.renewal = renewal
        """Renews the lease just before the body, if its claim aged (a driver calls it)."""
        self.recovery = recovery
        """The run's recovery points (``idemlock.step``), current while the body runs."""
        self.heartbeat = heartbeat
        """Extends the lease while the body runs (``heartbeat=``)."""
        self._beat = heartbeat  # what the block starts; holding() says from where
        self.start = self.end = 0.0

    def renew(self) -> None:
        """Give the lock its whole lease from now if its claim aged (one store call, or none).

        A driver calls it just before :meth:`holding` (an ``async`` one, in a worker thread
        when :meth:`Renewal.due`); what it raises is the body's failure: the body never started,
        and the protocol releases the key.
        """
        if self.renewal is not None:
            self.renewal()

    def holding(self, *, awaited: bool = False) -> RunBody:
        """The block to run the body in: the lock current, the body timed, the heartbeat on.

        An ``async`` driver starts the heartbeat itself and awaits its stop, so that the event
        loop is never blocked while a beat lands: ``awaited=True``.
        """
        self._beat = None if awaited else self.heartbeat
        return self

    def __enter__(self) -> None:
        self._token = CURRENT_LOCK.set(self.lock)
        self._run_token = CURRENT_RUN.set(self.recovery)
        if self._beat is not None:
            try:
                self._beat.start()
            except BaseException:  # HeartbeatError: the body never starts, the lock is not ours
                self._ended()
                raise
        self.start = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.end = time.perf_counter()
        if self._beat is not None:
            self._beat.stop()  # before the complete or the release: none races them
        self._ended()

    def _ended(self) -> None:
        if self.lock is not None:
            self.lock._ended()  # extend() from now on is a ConfigurationError, not a lost lock
        CURRENT_RUN.reset(self._run_token)
        CURRENT_LOCK.reset(self._token)

    @property
    def ms(self) -> float:
        """The body's run time in milliseconds."""
        return (self.end - self.start) * 1000


Step = Claim | Complete | Release | Sleep | RunBody | MarkUnknown | Read | Free
"""What the protocol yields."""

Steps = Generator[Step, Any, Any]
"""One invocation of the protocol: yields steps, returns the body's (or the stored) value."""


class BodyFailed(BaseException):
    """The body's exception on its way through the protocol: thrown in, re-raised, unwrapped.

    A driver throws this, not the body's own exception, into the protocol at :class:`RunBody`;
    the protocol releases the key and re-raises it; the driver raises ``error`` itself. The
    body's exception must never be raised inside the generator: PEP 479 turns a
    ``StopIteration`` raised there into ``RuntimeError``. A ``BaseException``, so that no
    ``except Exception`` on the way can take it for a store error.
    """

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error
