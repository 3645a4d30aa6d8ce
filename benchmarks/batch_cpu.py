"""4b. Client CPU per record of a batch, straight on DynamoDB Local (no added latency).

The CPU-bound regime: in-region DynamoDB answers in a few ms and a Lambda may have one vCPU, so
what a batch costs is the client's own work per record — the library's and botocore's (signing,
serialising, sending and parsing every request). ``time.process_time`` counts this process's
CPU, every thread of it (idemlock's store calls run on a thread pool); DynamoDB Local is another
process. Both libraries get the same client; they take turns, their order reversed every other
repeat. Every batch is all first runs. The handler without idempotency is measured too: its CPU
is what the bodies and the batch loop cost without either library.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.batches import batch_event
from benchmarks.common import LIBRARIES, create_table, make_client, summary, unique
from benchmarks.subjects import (
    BATCH_SOURCES,
    Handler,
    RecordBody,
    context,
    idemlock_batch_handler,
    idemlock_plain_batch,
    powertools_batch_handler,
    powertools_plain_batch,
)

SOURCES = ("sqs", "kinesis")


def _cpu_and_wall(handler: Handler, event: dict[str, Any]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    response = handler(event, context())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if response != {"batchItemFailures": []}:
        raise AssertionError(f"a no-op batch reported failures: {response}")
    return cpu, wall


def measure(endpoint_url: str, *, records: int, repeats: int) -> dict[str, Any]:
    """Per source and library: client CPU ms per record and wall ms per batch (summaries)."""
    client = make_client(endpoint_url)
    try:
        tables = {name: create_table(client, f"cpu-{name}") for name in LIBRARIES}
        rows = {name: _source(client, tables, name, records, repeats) for name in SOURCES}
    finally:
        client.close()
    return {"records": records, "repeats": repeats, "sources": rows}


def _source(
    client: Any, tables: dict[str, str], name: str, records: int, repeats: int
) -> dict[str, Any]:
    source = BATCH_SOURCES[name]
    body = RecordBody()
    handlers = {
        "idemlock": idemlock_batch_handler(client, tables["idemlock"], unique("ns"), body),
        "powertools": powertools_batch_handler(client, tables["powertools"], source, body),
    }
    plain = {
        "idemlock": idemlock_plain_batch(body),
        "powertools": powertools_plain_batch(source, body),
    }
    for handler in handlers.values():  # warm-up: connections, thread pools
        _cpu_and_wall(handler, batch_event(source, 10))
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in LIBRARIES}
    for repeat in range(repeats):
        order = LIBRARIES if repeat % 2 == 0 else tuple(reversed(LIBRARIES))
        for library in order:
            samples[library].append(_cpu_and_wall(handlers[library], batch_event(source, records)))
    row: dict[str, Any] = {"label": source.label}
    for library in LIBRARIES:
        plain_cpu, _ = _cpu_and_wall(plain[library], batch_event(source, records))
        row[library] = {
            "cpu_ms_per_record": summary([cpu * 1000 / records for cpu, _ in samples[library]]),
            "wall_ms": summary([wall * 1000 for _, wall in samples[library]]),
            "plain_cpu_ms_per_record": plain_cpu * 1000 / records,
        }
    row["cpu_ratio"] = (
        row["idemlock"]["cpu_ms_per_record"]["median"]
        / row["powertools"]["cpu_ms_per_record"]["median"]
    )
    return row
