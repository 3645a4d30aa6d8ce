"""The operator: settles the unknown outcomes ``on_lease_expired="refuse"`` leaves.

Every few virtual seconds it lists the marked keys as ``idemlock ls --unknown`` does, and settles
each with the store operations of the commands: ``idemlock release KEY`` (the item deleted on
the condition that it did not change since it was read, refused while a lease is live; the event
then delivered again, as an operator redrives it) or ``idemlock resolve KEY --completed
[--result JSON]`` (the item completed in an operator's name). The CLI's own ``run`` functions
build a DynamoDBStore from their flags and read the real clock; the simulation needs its store
and its virtual clock, so it calls what they call.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from idemlock.cli.items import lease_left_ms
from idemlock.errors import StoreError
from idemlock.item import LockItem
from tests.simulation.world import SimStore, World

RETENTION_S = 24 * 3600
"""``idemlock resolve``'s default retention."""


class Operator:
    """Lists unknown outcomes and settles each: run again, or done (with a result or none)."""

    def __init__(self, world: World, store: SimStore, prefix: str, seed: int) -> None:
        self._world = world
        self._store = store
        self._prefix = prefix
        self._seed = seed
        self._redrives: dict[str, Callable[[], None]] = {}

    def redrive_with(self, key: str, redrive: Callable[[], None]) -> None:
        """How to deliver ``key``'s event again once released."""
        self._redrives[key] = redrive

    def look(self, label: str) -> None:
        """``idemlock ls --unknown``, then a decision on each key it lists."""
        try:
            marked = [
                item
                for item in self._store.scan(prefix=self._prefix)
                if item.outcome_unknown_at_ms is not None
            ]
        except StoreError as exc:  # the listing failed (a fault behind the proxy): look later
            self._world.history.note(self._world.now(), f"operator's listing failed: {exc!r}")
            return
        for item in marked:
            self._decide(item, label)

    def _decide(self, item: LockItem, label: str) -> None:
        world = self._world
        choice = random.Random(f"{self._seed}/{item.key}/{item.fence}/{label}").random()
        try:
            if choice < 0.5:
                self._release(item, label)
            else:
                self._resolve(item, with_result=choice < 0.75)
        except StoreError as exc:  # the command failed: the operator looks again later
            world.history.note(world.now(), f"operator on {item.key} failed: {exc!r}")

    def _release(self, item: LockItem, label: str) -> None:
        """``idemlock release KEY``: refused on a live lease, else the unchanged item deleted."""
        world = self._world
        at = int(world.clock() * 1000)
        left = lease_left_ms(item, at)
        if left is not None and left > 0:
            world.history.note(world.now(), f"operator: {item.key} is live, not released")
            return
        if not self._store.delete(item.key, expected=item):
            world.history.note(world.now(), f"operator: {item.key} changed, not released")
            return
        world.history.note(world.now(), f"operator released {item.key} (fence {item.fence})")
        redrive = self._redrives.get(item.key)
        if redrive is not None:
            world.at(world.now() + 0.5, f"{label}-redrive", redrive)

    def _resolve(self, item: LockItem, *, with_result: bool) -> None:
        """``idemlock resolve KEY --completed [--result JSON]``: completed in an operator's name."""
        world = self._world
        at = int(world.clock() * 1000)
        result = (
            json.dumps({"resolved": item.fence}, separators=(",", ":")) if with_result else None
        )
        done = self._store.resolve(
            item.key,
            item.owner,
            operator=f"resolved-{item.fence}",
            now_ms=at,
            result=result,
            expires_at_s=-(-(at + RETENTION_S * 1000) // 1000),
        )
        what = "resolved" if done else "could not resolve (changed)"
        world.history.note(world.now(), f"operator {what} {item.key} with {result}")
