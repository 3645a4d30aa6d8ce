"""The floor of a batch: the least wall time any design can take, in round trips and bodies.

For a batch of N records and at most C store requests in flight:

- every claim goes out at once, C at a time: ⌈N/C⌉ waves of one round trip each; with
  requests that carry up to 25 statements (DynamoDB's ``BatchExecuteStatement``),
  ⌈⌈N/25⌉/C⌉ waves;
- bodies run one after another in record order (ordered sources; the unordered ones are held to
  the same, since the handler without idempotency runs them so too), each once its claim is back;
- completes are sent while the next bodies run, off the critical path, except the last one's:
  one more round trip before the handler can return.

So the floor is ``max(waves * rtt, rtt + bodies) + rtt``: the claims' waves or the first claim
followed by every body, whichever ends later, then the last complete. Its idempotency overhead
(what is added to the bodies' own time) is that minus ``bodies``; with bodies that take no time,
``(waves + 1) * rtt``.

That prices a wave at one round trip, as a server that runs concurrent requests in parallel
does; :mod:`benchmarks.measured_floor` sends the same requests to the server at hand, and
:func:`measured` sums up what they took.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmarks.common import summary

STATEMENTS_PER_REQUEST = 25
"""DynamoDB's limit on the statements of one ``BatchExecuteStatement`` request."""


def claim_waves(records: int, concurrency: int, per_request: int = 1) -> int:
    """Round-trip waves to send ``records`` claims, ``per_request`` to a request, C at once."""
    if records < 1 or concurrency < 1 or per_request < 1:
        raise ValueError(
            f"records, concurrency and per_request must be at least 1, got {records},"
            f" {concurrency}, {per_request}"
        )
    requests = math.ceil(records / per_request)
    return math.ceil(requests / concurrency)


def floor_ms(
    records: int, concurrency: int, *, rtt_ms: float, bodies_ms: float, per_request: int = 1
) -> float:
    """The least wall time of the batch, in ms (see the module docstring)."""
    waves = claim_waves(records, concurrency, per_request)
    return max(waves * rtt_ms, rtt_ms + bodies_ms) + rtt_ms


def floor_overhead_ms(
    records: int, concurrency: int, *, rtt_ms: float, bodies_ms: float, per_request: int = 1
) -> float:
    """What the floor adds to the bodies' own time, in ms."""
    return (
        floor_ms(records, concurrency, rtt_ms=rtt_ms, bodies_ms=bodies_ms, per_request=per_request)
        - bodies_ms
    )


def floors(records: int, concurrency: int, *, rtt_ms: float, bodies_ms: float) -> dict[str, Any]:
    """Both floors of one case: one write per request, and 25 statements per request."""
    result: dict[str, Any] = {
        "records": records,
        "concurrency": concurrency,
        "rtt_ms": rtt_ms,
        "bodies_ms": bodies_ms,
    }
    for name, per_request in (("single", 1), ("batched", STATEMENTS_PER_REQUEST)):
        result[name] = {
            "per_request": per_request,
            "waves": claim_waves(records, concurrency, per_request),
            "round_trips": claim_waves(records, concurrency, per_request) + 1,
            "wall_ms": floor_ms(
                records, concurrency, rtt_ms=rtt_ms, bodies_ms=bodies_ms, per_request=per_request
            ),
            "overhead_ms": floor_overhead_ms(
                records, concurrency, rtt_ms=rtt_ms, bodies_ms=bodies_ms, per_request=per_request
            ),
        }
    return result


def measured(walls_ms: Sequence[float], rtt_ms: float) -> dict[str, Any]:
    """A measured floor's figures: its batches' wall ms, and their median in round trips.

    The floor's requests carry no bodies, so its wall is its overhead.
    """
    if not walls_ms:
        raise ValueError("a measured floor needs at least one batch's wall time")
    wall = summary(walls_ms)
    return {"wall_ms": wall, "round_trips": wall["median"] / rtt_ms}
