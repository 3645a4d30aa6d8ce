"""5b. Contention between consumers: processes redelivered the same batches, as after a rebalance.

When a Kinesis shard (or a DynamoDB stream's) moves from one consumer to another, or a Lambda
invocation times out while its batch is retried, several processes can hold the same records at
once. Here 1, 2, 4 and 8 processes (spawned: each its own interpreter, client and handler, as
separate Lambda containers) are each delivered every one of the same batches of Kinesis records,
starting from a different batch, all at once (a barrier). A batch whose response names a failed
record (a record in progress in another process) is delivered again from that record, as
Lambda does, after a short wait, until nothing fails.

Reported: double executions (bodies run per record, counted across processes: must be 0),
records never run (must be 0), write and read units per record (every request carries
``ReturnConsumedCapacity``, see :class:`benchmarks.capacity.CapacityMeter`), deliveries, and
throughput: distinct records per second, and record deliveries (duplicates included) per second,
over the slowest process's time. DynamoDB Local without added latency, on this machine's cores,
which every process and the server share.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from benchmarks.batches import batch_event
from benchmarks.capacity import CapacityMeter
from benchmarks.common import SPAWN, create_table, gather, make_client, summary, unique
from benchmarks.subjects import BATCH_SOURCES, context
from idemlock import DynamoDBStore, idempotent_records

SOURCE = "kinesis"
BODY_S = 0.001
RETRY_WAIT_S = 0.05
MAX_DELIVERIES = 200
"""Per batch and process: far more than a redelivery needs once the other holders are done."""


@dataclass(frozen=True)
class _Target:
    """What a consuming process builds its handler on, and what it is delivered (plain data)."""

    endpoint_url: str
    table: str
    namespace: str
    batches: list[dict[str, Any]]
    first: int
    """Which batch this process starts with (then the next ones, around)."""


def _handler(target: _Target, executed: list[str]) -> Any:
    store = DynamoDBStore(target.table, client=make_client(target.endpoint_url))
    lock = threading.Lock()

    @idempotent_records(store=store, namespace=target.namespace)
    def handle(record: dict[str, Any], context: Any) -> None:
        with lock:
            executed.append(record["eventID"])
        time.sleep(BODY_S)

    return handle, store.client


def _deliver(handler: Any, batch: dict[str, Any]) -> int:
    """Deliver ``batch`` until no record fails, from the first failed one; return deliveries."""
    records = batch["Records"]
    for delivery in range(1, MAX_DELIVERIES + 1):
        response = handler({"Records": records}, context())
        failed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
        if not failed:
            return delivery
        sequences = [record["kinesis"]["sequenceNumber"] for record in records]
        records = records[min(sequences.index(sequence) for sequence in failed) :]
        time.sleep(RETRY_WAIT_S)
    raise RuntimeError(f"a batch still failed after {MAX_DELIVERIES} deliveries")


def _consumer(target: _Target, barrier: Any, results: Any) -> None:
    """One consuming process: every batch, from its own first one, until each has no failure."""
    # A record in progress in another process fails its batch here by design, and is counted
    # from the responses; its WARNING with a traceback, per record and delivery, would flood
    # the run's output.
    logging.getLogger("idemlock").setLevel(logging.ERROR)
    executed: list[str] = []
    handler, client = _handler(target, executed)
    meter = CapacityMeter(client)
    handler(batch_event(BATCH_SOURCES[SOURCE], 5), context())  # connect, start the pool
    executed.clear()  # the warm-up's records are no racing records
    count = len(target.batches)
    barrier.wait()
    with meter.measuring():
        start = time.perf_counter()
        deliveries = sum(
            _deliver(handler, target.batches[(target.first + n) % count]) for n in range(count)
        )
        seconds = time.perf_counter() - start
        units = (meter.write, meter.read, meter.failed_writes, meter.estimated_statements)
    results.put((executed, deliveries, seconds, units))


def _race(endpoint_url: str, table: str, processes: int, batches: int, records: int) -> Any:
    events = [batch_event(BATCH_SOURCES[SOURCE], records) for _ in range(batches)]
    namespace = unique("ns")
    barrier = SPAWN.Barrier(processes)
    reports = gather(
        _consumer,
        [
            (_Target(endpoint_url, table, namespace, events, p % batches), barrier)
            for p in range(processes)
        ],
        what="a consuming process",
        timeout_s=900,
    )
    return _tally(events, reports, processes)


def _tally(events: list[dict[str, Any]], reports: list[Any], processes: int) -> dict[str, Any]:
    ids = [record["eventID"] for event in events for record in event["Records"]]
    executions = Counter(key for report in reports for key in report[0])
    seconds = max(report[2] for report in reports)
    write = sum(report[3][0] for report in reports)
    read = sum(report[3][1] for report in reports)
    return {
        "processes": processes,
        "records": len(ids),
        "seconds": seconds,
        "executions": sum(executions.values()),
        "double_executions": sum(count - 1 for count in executions.values() if count > 1),
        "records_never_run": sum(1 for key in ids if executions[key] == 0),
        "deliveries": sum(report[1] for report in reports),
        "wcu_per_record": write / len(ids),
        "rcu_per_record": read / len(ids),
        "failed_writes": sum(report[3][2] for report in reports),
        "estimated_statements": sum(report[3][3] for report in reports),
        "records_per_s": len(ids) / seconds,
        "deliveries_per_s": processes * len(ids) / seconds,
    }


def measure(
    endpoint_url: str, *, processes: list[int], batches: int, records: int, repeats: int
) -> dict[str, Any]:
    """Per process count: double executions, units per record, throughput (summaries)."""
    client = make_client(endpoint_url)
    try:
        table = create_table(client, "redeliveries")
    finally:
        client.close()
    rows: dict[str, Any] = {}
    for count in processes:
        runs = [_race(endpoint_url, table, count, batches, records) for _ in range(repeats)]
        rows[str(count)] = {
            "double_executions": sum(run["double_executions"] for run in runs),
            "records_never_run": sum(run["records_never_run"] for run in runs),
            "executions": sum(run["executions"] for run in runs),
            "records": sum(run["records"] for run in runs),
            "deliveries": sum(run["deliveries"] for run in runs),
            "failed_writes": sum(run["failed_writes"] for run in runs),
            "estimated_statements": sum(run["estimated_statements"] for run in runs),
            **{
                measure: summary([run[measure] for run in runs])
                for measure in ("wcu_per_record", "rcu_per_record", "records_per_s")
            },
            "deliveries_per_s": summary([run["deliveries_per_s"] for run in runs]),
        }
    return {
        "source": BATCH_SOURCES[SOURCE].label,
        "batches": batches,
        "records_per_batch": records,
        "repeats": repeats,
        "body_ms": BODY_S * 1000,
        "processes": rows,
    }
