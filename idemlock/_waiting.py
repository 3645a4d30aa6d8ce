"""``wait=``: how a duplicate that finds its key in progress waits for the first call's result.

It reads the item, never claims it, while the holder's lease is live: a hot key costs reads,
not a storm of conditional writes. The pauses between reads grow exponentially with jitter (so
many waiters on one key spread out), never past the holder's lease end by more than
:data:`MIN_PAUSE_MS` (a crashed holder's key is claimed soon after its lease ends) and never past
the end of the wait.

Cost of waiting, per second: about five strongly consistent reads in the first second, then
one every ~0.75 s (pauses drawn between half and all of :data:`MAX_PAUSE_MS`): ~1.3 read
units a second for an item up to 4 KB, and no write units until the key is freed.
"""

from __future__ import annotations

import random
from typing import Final

from idemlock.lock import LAMBDA_LEASE_GRACE_MS

FIRST_PAUSE_MS: Final = 50
"""The longest first pause; each next one may be twice as long, up to :data:`MAX_PAUSE_MS`."""

MAX_PAUSE_MS: Final = 1000
"""The longest pause between two reads."""

MIN_PAUSE_MS: Final = 25
"""The shortest pause, even when the holder's lease ends sooner: a clock behind the holder's
could otherwise see a lease forever about to end and read in a tight loop."""

LAMBDA_RESERVE_MS: Final = 500
"""Inside Lambda, waiting ends this long before the invocation's deadline, so that the waiter
still answers (``InProgressError``) before Lambda stops it."""

_jitter = random.Random()  # spreads waiters out: no secret, any generator does


class Waiting:
    """One call's wait: the pauses left before it gives up (``InProgressError``).

    The wait is counted in the pauses it sleeps, not by the clock: the policy's clock may be a
    test's, standing still.
    """

    __slots__ = ("_ceiling_ms", "_left_ms")

    def __init__(self, wait_ms: int, budget_ms: int | None) -> None:
        # budget_ms, inside Lambda: the invocation's remaining time plus the lease grace.
        if budget_ms is not None:
            wait_ms = min(wait_ms, budget_ms - LAMBDA_LEASE_GRACE_MS - LAMBDA_RESERVE_MS)
        self._left_ms = float(max(wait_ms, 0))
        self._ceiling_ms = float(FIRST_PAUSE_MS)

    def pause_s(self, lease_left_ms: int) -> float | None:
        """The next pause in seconds, or ``None``: the wait is over.

        ``lease_left_ms``: how long the holder's lease still runs; the pause ends soon after it.
        """
        if self._left_ms <= 0:
            return None
        pause_ms = _jitter.uniform(self._ceiling_ms / 2, self._ceiling_ms)
        pause_ms = min(pause_ms, max(lease_left_ms + 1, MIN_PAUSE_MS), self._left_ms)
        self._ceiling_ms = min(self._ceiling_ms * 2, MAX_PAUSE_MS)
        self._left_ms -= pause_ms
        return pause_ms / 1000
