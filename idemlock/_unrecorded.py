"""Completes that could not be stored after their body ran, kept to be sent again (batches).

A batch record whose complete failed through every retry has run: it is reported as processed
(``RAN_NOT_RECORDED``), and its key stays ``IN_PROGRESS`` under our owner token. Once its lease
ends, a second delivery of that record (Lambda delivers at least once) would take the key over
and run it again — in an ordered source, after the newer records behind it. So the complete is
sent once more after the batch's other completes, and if that fails too, it is kept here: the
runner sends it again before a later batch of this process claims the key, and does not run the
record while it still cannot be stored. A complete is conditioned on the owner token only, so it
lands after our lease too, unless another invocation took the key over meanwhile.

Another process (another Lambda container) knows nothing of it: there, a delivery after the
lease runs the record again.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Final, NamedTuple

from idemlock._leases import lose
from idemlock._policy import Policy
from idemlock._steps import Complete
from idemlock.errors import LockLostError
from idemlock.lock import Lock

logger = logging.getLogger("idemlock")

KEPT: Final = 1_000
"""At most this many unrecorded completes are kept per batch handler (the oldest go first)."""


class Unrecorded(NamedTuple):
    """A record's complete that could not be stored, and the claim it completes."""

    complete: Complete
    lock: Lock


def send_again(policy: Policy, unrecorded: Unrecorded) -> None:
    """Send the complete once more: one call (the store client's own retries aside).

    Raises :class:`StoreError` if the store fails again, :class:`LockLostError` if another
    invocation took the key over meanwhile (it ran there, or runs now: not ours to record).
    """
    complete, lock = unrecorded
    if not complete.run():
        raise lose(policy, lock)
    policy.emit("completed", lock.key, lock=lock)


class UnrecordedCompletes:
    """The unrecorded completes of one batch handler, by key, kept across its invocations."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._by_key: OrderedDict[str, Unrecorded] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, unrecorded: Unrecorded) -> None:
        """Keep ``unrecorded`` to send again before its key is next claimed here."""
        with self._lock:
            self._by_key[unrecorded.lock.key] = unrecorded
            self._by_key.move_to_end(unrecorded.lock.key)
            while len(self._by_key) > self._kept:
                dropped, _ = self._by_key.popitem(last=False)
                logger.warning(
                    "more than %d unrecorded completes: no longer keeping %r's; a delivery of "
                    "it after its lease runs it again",
                    self._kept,
                    dropped,
                )

    def take(self, key: str) -> Unrecorded | None:
        """The unrecorded complete of ``key``, no longer kept (keep it again if it fails)."""
        with self._lock:
            return self._by_key.pop(key, None)

    def settle(self, policy: Policy, key: str) -> None:
        """Send ``key``'s kept complete, if any, before the key is claimed here.

        It landed, or another invocation took the key over (told as ``lock_lost``): the claim
        finds what the store holds. Raises :class:`StoreError` when the store fails again: the
        complete stays kept, and the record, which ran, must not run again.
        """
        unrecorded = self.take(key)
        if unrecorded is None:
            return
        try:
            send_again(policy, unrecorded)
        except LockLostError:
            pass  # told by lose(); the key is another invocation's now
        except BaseException:
            self.keep(unrecorded)
            raise
