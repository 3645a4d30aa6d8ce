"""The narrow interface every lock store implements.

A store deals only in lock items: it never builds keys, hashes payloads or reads a clock. The
caller hands it the current time with every request that compares times, so one injectable
clock governs the whole protocol. A new backend implements :class:`LockStore` and passes the
contract suite in ``tests/test_contract.py``.
"""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation into a ForwardRef as the class is made; evaluated ones make the named tuples below
# about half as costly to a cold start.

from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol, cast, runtime_checkable

from idemlock.errors import ConfigurationError, StoreError
from idemlock.item import LockItem, LockStatus


class Claim(NamedTuple):
    """A request to take ``key`` for ``owner`` at ``now_ms``.

    The store writes an ``IN_PROGRESS`` item if and only if the key is free at ``now_ms``
    (see :meth:`LockItem.is_free_at`). Its fence is the stored fence plus one when the item exists
    (takeover, retention over), else ``fence_base`` plus one: the caller's strictly increasing
    time in microseconds, above every fence a deleted item can have held.

    ``take_over=False`` (``on_lease_expired="refuse"``) leaves an ``IN_PROGRESS`` item whose
    lease is over in place: the claim is refused and returns it, as for a live lease.
    """

    key: str
    owner: str
    now_ms: int
    fence_base: int
    lease_expires_at_ms: int
    expires_at_s: int
    fingerprint: str | None = None
    take_over: bool = True

    def takes(self, item: LockItem | None) -> bool:
        """Whether this claim may take a key that holds ``item`` (``None``: no item).

        The free states of :meth:`LockItem.is_free_at`, but a lapsed ``IN_PROGRESS`` claim
        only with ``take_over`` (a released one always).
        """
        if item is None:
            return True
        if not item.is_free_at(self.now_ms):
            return False
        return (
            self.take_over
            or item.status is not LockStatus.IN_PROGRESS
            or item.released_at_ms is not None
        )

    def written(
        self,
        fence: int | None = None,
        attempts: int | None = None,
        steps: tuple[tuple[str, str], ...] = (),
    ) -> LockItem:
        """The item this claim writes over a free key whose ``fence`` and ``attempts`` were these.

        ``None``: there was no item, or no such attribute. The one statement of what a
        successful claim leaves behind, for stores whose write answers with less than the whole
        new item: every field is the claim's, except the two counters the claim advances by one
        and the recorded ``steps`` it keeps (from an ``IN_PROGRESS`` item: taken over, or
        released after a failure with steps).
        """
        return LockItem(
            key=self.key,
            status=LockStatus.IN_PROGRESS,
            owner=self.owner,
            fence=(self.fence_base if fence is None else fence) + 1,
            claimed_at_ms=self.now_ms,
            lease_expires_at_ms=self.lease_expires_at_ms,
            expires_at_s=self.expires_at_s,
            attempts=(0 if attempts is None else attempts) + 1,
            fingerprint=self.fingerprint,
            steps=steps,
        )


class ClaimResult(NamedTuple):
    """What a claim found: ``acquired`` with our new item, or the item that holds the key.

    ``item`` is ``None`` only when the claim failed and the item vanished before the store
    could read it (a race with a release); the caller simply claims again.

    ``replaced``, when acquired, is the status of the item the claim wrote over: ``IN_PROGRESS``
    for a takeover of a lease that ran out, ``COMPLETED`` for a key claimed again once its
    retention ended, ``None`` for a key that had no item or whose body failed with steps
    recorded (``released_at_ms``: a fresh start that keeps them). It tells a takeover (a crash or a
    timeout somewhere: the ``taken_over`` event) from a fresh start.
    """

    acquired: bool
    item: LockItem | None
    replaced: LockStatus | None = None


@runtime_checkable
class LockStore(Protocol):
    """Storage for lock items with conditional writes.

    A store with a size limit states it as a ``max_result_bytes`` attribute (an ``int``): the
    claim steps complete the key without a result whose JSON is larger (a short marker in its
    place). Without one, any result is stored.
    """

    def claim(self, claim: Claim) -> ClaimResult:
        """Atomically take the key if it is free; otherwise return the item that holds it."""
        ...

    def complete(
        self,
        key: str,
        owner: str,
        *,
        now_ms: int,
        result: str | None,
        expires_at_s: int | None,
    ) -> bool:
        """Mark ``key`` completed if ``owner`` still holds it; ``False`` if it does not."""
        ...

    def release(self, key: str, owner: str) -> bool:
        """Delete ``key`` if ``owner`` holds it (or it is gone); ``False`` if another owns it."""
        ...

    def extend(
        self, key: str, owner: str, *, lease_expires_at_ms: int, expires_at_s: int
    ) -> int | None:
        """Move ``owner``'s ``IN_PROGRESS`` lease (and TTL) forward, never back.

        The lease ``owner`` holds once the call is done: ``lease_expires_at_ms``, or a later one
        already stored (an extension that answered late never shortens a longer one that landed
        first); ``None`` if ``owner`` does not hold the key in progress. Only the lease and the
        TTL attribute change: the fence and the attempts stay.
        """
        ...

    def get(self, key: str) -> LockItem | None:
        """Read the item for ``key`` with a strongly consistent read."""
        ...

    def resolve(
        self,
        key: str,
        owner: str,
        *,
        operator: str,
        now_ms: int,
        result: str | None,
        expires_at_s: int | None,
    ) -> bool:
        """Complete ``owner``'s ``IN_PROGRESS`` claim for an operator, who becomes its owner.

        As :meth:`complete` writes it, with ``owner`` replaced by ``operator``: the first owner,
        if it is alive after all, finds the key is not its own any more, so its late complete
        cannot overwrite the operator's result nor its late release free the key. ``False`` if
        the item is not ``owner``'s claim in progress.
        """
        ...

    def mark_unknown(self, key: str, owner: str, *, now_ms: int) -> bool:
        """Mark ``owner``'s ``IN_PROGRESS`` item, lease over at ``now_ms``, outcome unknown.

        Sets ``outcome_unknown_at_ms`` to ``now_ms``; ``False`` if the item is not that (gone,
        another owner, completed, its lease moved on, or marked already). A marked item is free
        for no claim until an operator (or its owner) settles it.
        """
        ...

    def record_steps(
        self, key: str, owner: str, *, fence: int, steps: tuple[tuple[str, str], ...]
    ) -> bool:
        """Store ``steps`` (every recovery point so far) on ``owner``'s claim with ``fence``.

        ``False`` if the key is not that claim any more (taken over, completed, gone).
        """
        ...

    def free(self, key: str, owner: str, *, now_ms: int) -> bool:
        """Free ``owner``'s claim after a failure, keeping its recorded steps for the retry.

        Sets ``released_at_ms``: the item is free for any claim, which keeps its steps. ``False``
        if another owner holds the key; a key already gone counts as freed.
        """
        ...

    def delete(self, key: str, *, expected: LockItem | None = None) -> bool:
        """Delete ``key`` for an operator; ``False`` if it changed or was not there.

        With ``expected``, only while the item is still that item (status, owner, fence);
        without, unconditionally.
        """
        ...

    def scan(
        self, *, prefix: str | None = None, page_size: int | None = None
    ) -> Iterator[LockItem]:
        """Yield every item (whose key starts with ``prefix``), in no particular order.

        ``page_size`` bounds the items read per request where the store pages.
        """
        ...


class CompleteRequest:
    """One complete of a batch: :meth:`LockStore.complete`'s arguments.

    A plain class, as :class:`ReleaseRequest`: every handler loads this module, batch or not,
    and making a named tuple's class would cost about 0.1 ms of its cold start.
    """

    __slots__ = ("expires_at_s", "key", "now_ms", "owner", "result")

    def __init__(
        self, key: str, owner: str, now_ms: int, result: str | None, expires_at_s: int | None
    ) -> None:
        self.key = key
        self.owner = owner
        self.now_ms = now_ms
        self.result = result
        self.expires_at_s = expires_at_s

    def __repr__(self) -> str:
        return (
            f"CompleteRequest({self.key!r}, {self.owner!r}, now_ms={self.now_ms}, "
            f"result={self.result!r}, expires_at_s={self.expires_at_s})"
        )

    def sent_to(self, store: "LockStore") -> bool:
        """Send it by itself, as :meth:`LockStore.complete` (entry by entry, without batches)."""
        return store.complete(
            self.key,
            self.owner,
            now_ms=self.now_ms,
            result=self.result,
            expires_at_s=self.expires_at_s,
        )


class ReleaseRequest:
    """One release of a batch: :meth:`LockStore.release`'s arguments."""

    __slots__ = ("key", "owner")

    def __init__(self, key: str, owner: str) -> None:
        self.key = key
        self.owner = owner

    def __repr__(self) -> str:
        return f"ReleaseRequest({self.key!r}, {self.owner!r})"


class BatchWrites(Protocol):
    """What a store that writes many items per request offers besides :class:`LockStore`.

    Optional: a batch of records (``@idempotent_records``) sends its claims, completes and
    releases through these when the store has them (:func:`batch_writes`), a chunk of at most
    ``batch_limit`` per call, and one call per record otherwise. Each answer is the one the
    single-item method would give for that entry, in the entries' order; an entry the store
    could not write (its retries spent) answers with the :class:`StoreError` it failed with,
    while the others stand. A failure of the whole request raises. The entries of one call name
    distinct keys.

    ``writes_in_batches`` says whether batches are worth sending now: ``False`` once the store
    found its backend without them (it then still answers every call, one item at a time).
    """

    batch_limit: int
    writes_in_batches: bool

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | StoreError]:
        """:meth:`LockStore.claim` for each claim."""
        ...

    def complete_many(self, completes: Sequence[CompleteRequest]) -> list[bool | StoreError]:
        """:meth:`LockStore.complete` for each complete."""
        ...

    def release_many(self, releases: Sequence[ReleaseRequest]) -> list[bool | StoreError]:
        """:meth:`LockStore.release` for each release."""
        ...


_BATCH_METHODS = ("claim_many", "complete_many", "release_many")
"""The methods of :class:`BatchWrites`, which a store's class defines to write in batches."""


def batch_writes(store: object) -> BatchWrites | None:
    """``store`` as :class:`BatchWrites` if its class defines the batch methods, else ``None``.

    The methods are looked up on the class, never through an instance's ``__getattr__``, on
    every Python (Python 3.12's ``isinstance`` of a runtime-checkable protocol does so, 3.10's
    and 3.11's did not): a store that wraps another through ``__getattr__`` writes in batches
    only by defining the methods itself, so that no batch goes around its own ``claim``. A
    method set to ``None`` in a subclass opts it out. A class with some of the methods only, or
    without the attributes, is a :class:`ConfigurationError` naming what it lacks.
    """
    kind = type(store)
    methods = [name for name in _BATCH_METHODS if callable(getattr(kind, name, None))]
    if not methods:
        return None
    missing = [name for name in _BATCH_METHODS if name not in methods]
    missing += [name for name in ("batch_limit", "writes_in_batches") if not hasattr(store, name)]
    if missing:
        raise ConfigurationError(
            f"{kind.__name__} has {', '.join(methods)} but not {', '.join(missing)}: a store "
            "that writes in batches has every member of idemlock.store.BatchWrites"
        )
    return cast("BatchWrites", store)
