"""1. Round trips per path, counted with botocore's ``before-send`` hook on real servers."""

from __future__ import annotations

from typing import Any

from benchmarks.common import LIBRARIES, PATHS, create_table, make_client, unique
from benchmarks.paths import call, check, setup
from benchmarks.subjects import LastKey, make_subject
from tests.round_trips import RoundTrips  # counted the way the tests count

REPEATS = 3


def measure(endpoint_url: str) -> dict[str, Any]:
    """``{library: {path: {"calls": n, "operations": [...]}}}`` on one server."""
    results: dict[str, Any] = {}
    for library in LIBRARIES:
        client = make_client(endpoint_url)
        table = create_table(client, f"rt-{library}")
        subject = make_subject(library, client, table, unique("ns"))
        last_key = LastKey(client)
        by_path: dict[str, Any] = {}
        for path in PATHS:
            counts: list[int] = []
            operations: list[str] = []
            for _ in range(REPEATS):
                event = setup(subject, path, client, table, last_key.get)
                with RoundTrips().counting(client) as trips:
                    outcome = call(subject, event)
                check(subject, path, outcome)
                counts.append(len(trips.operations))
                operations = list(trips.operations)
            by_path[path] = {
                "calls": max(counts),
                "stable": len(set(counts)) == 1,
                "operations": operations,
            }
        results[library] = by_path
        client.close()
    return results
