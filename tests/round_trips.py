"""Counting a botocore client's round trips, for the tests and the benchmarks alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RoundTrips:
    """Counts HTTP requests a botocore client sends (retries included), by operation."""

    operations: list[str] = field(default_factory=list)

    def on_send(self, request: Any, **_: Any) -> None:
        """botocore's ``before-send`` hook: one call per HTTP request, retries included."""
        target = request.headers.get("X-Amz-Target", b"")
        name = target.decode() if isinstance(target, bytes) else str(target)
        self.operations.append(name.rpartition(".")[2])

    @contextmanager
    def counting(self, client: Any) -> Iterator[RoundTrips]:
        """Count ``client``'s requests inside the block (from zero)."""
        self.operations.clear()
        client.meta.events.register("before-send.dynamodb", self.on_send)
        try:
            yield self
        finally:
            client.meta.events.unregister("before-send.dynamodb", self.on_send)

    @property
    def count(self) -> int:
        return len(self.operations)

    def reset(self) -> None:
        self.operations.clear()
