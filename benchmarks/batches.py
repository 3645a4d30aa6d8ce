"""4. Batches of DynamoDB stream records through a latency-injecting proxy.

Both handlers get the same botocore client, pointed at :class:`tests.proxy.TcpProxy` (run in a
child process, see :mod:`benchmarks.proxy_process`) in front of DynamoDB Local, adding the same
latency each way per chunk. Bodies are no-ops; each library's own
batch baseline (the same handler shape without idempotency) is measured too and subtracted, so the
figure is the idempotency overhead. Every repeat uses fresh event ids, so every record is a first
run (2 writes each).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from benchmarks.common import LIBRARIES, create_table, make_client, summary, unique
from benchmarks.proxy_process import ProxyProcess
from benchmarks.subjects import (
    Handler,
    context,
    idemlock_batch_handler,
    idemlock_plain_batch,
    powertools_batch_handler,
    powertools_plain_batch,
)
from tests.batch_events import stream_event
from tests.round_trips import RoundTrips  # counted the way the tests count


def _event(records: int) -> dict[str, Any]:
    # Fresh sequence numbers (idemlock's key) and event ids (Powertools' key): all first runs.
    event = stream_event(records, first_sequence=uuid.uuid4().int % 10**24 * 10**6)
    prefix = uuid.uuid4().hex
    for record in event["Records"]:
        record["eventID"] = f"{prefix}-{record['eventID']}"
    return event


def _timed(handler: Handler, records: int) -> float:
    event = _event(records)
    start = time.perf_counter()
    response = handler(event, context())
    elapsed = time.perf_counter() - start
    if response != {"batchItemFailures": []}:
        raise AssertionError(f"a no-op batch reported failures: {response}")
    return elapsed


def _round_trip_ms(client: Any, table: str, samples: int = 20) -> dict[str, float]:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        client.get_item(TableName=table, Key={"id": {"S": "absent"}}, ConsistentRead=True)
        times.append((time.perf_counter() - start) * 1000)
    return summary(times)


def measure(
    endpoint_url: str, *, sizes: list[int], repeats: dict[int, int], latency_s: float
) -> dict[str, Any]:
    """Per size and library: wall ms, overhead ms over the baseline, per-record ms, calls.

    ``latency_s=0`` talks to ``endpoint_url`` directly, without the proxy.
    """
    if latency_s == 0:
        return _measure(endpoint_url, sizes=sizes, repeats=repeats, latency_s=0)
    port = urlparse(endpoint_url).port
    assert port is not None
    with ProxyProcess(port, latency_s) as proxy:
        return _measure(proxy.endpoint_url, sizes=sizes, repeats=repeats, latency_s=latency_s)


def _measure(
    endpoint_url: str, *, sizes: list[int], repeats: dict[int, int], latency_s: float
) -> dict[str, Any]:
    client = make_client(endpoint_url)
    try:
        tables = {name: create_table(client, f"batch-{name}") for name in LIBRARIES}
        handlers: dict[str, Handler] = {
            "idemlock": idemlock_batch_handler(client, tables["idemlock"], unique("ns")),
            "powertools": powertools_batch_handler(client, tables["powertools"]),
        }
        baselines: dict[str, Callable[[], Handler]] = {
            "idemlock": idemlock_plain_batch,
            "powertools": powertools_plain_batch,
        }
        round_trip = _round_trip_ms(client, tables["idemlock"])
        for handler in handlers.values():  # warm-up: connections, thread pool, caches
            _timed(handler, 10)
        results: dict[str, Any] = {
            "latency_each_way_ms": latency_s * 1000,
            "round_trip_ms": round_trip,
            "sizes": {},
        }
        for records in sizes:
            row: dict[str, Any] = {}
            for name in LIBRARIES:
                baseline = statistics.median(_timed(baselines[name](), records) for _ in range(3))
                walls: list[float] = []
                calls: list[int] = []
                for _ in range(repeats[records]):
                    with RoundTrips().counting(client) as trips:
                        walls.append(_timed(handlers[name], records))
                    calls.append(len(trips.operations))
                overheads = [(wall - baseline) * 1000 for wall in walls]
                row[name] = {
                    "repeats": repeats[records],
                    "wall_ms": summary([wall * 1000 for wall in walls]),
                    "baseline_ms": baseline * 1000,
                    "overhead_ms": summary(overheads),
                    "per_record_ms": statistics.median(overheads) / records,
                    "round_trips": max(calls),
                    "overhead_in_round_trips": statistics.median(overheads) / round_trip["median"],
                }
            row["speedup"] = (
                row["powertools"]["overhead_ms"]["median"]
                / row["idemlock"]["overhead_ms"]["median"]
            )
            results["sizes"][str(records)] = row
    finally:
        client.close()
    return results
