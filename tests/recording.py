"""An ``on_event`` sink for tests: it keeps every event it is given."""

from __future__ import annotations

from idemlock.events import LockEvent


class Events(list[LockEvent]):
    """The events given so far, in order (``list.append`` is atomic: any thread may call it)."""

    def __call__(self, event: LockEvent) -> None:
        self.append(event)

    def kinds(self) -> list[str]:
        return [event.kind for event in self]

    def count(self, kind: str) -> int:  # type: ignore[override]
        return sum(1 for event in self if event.kind == kind)
