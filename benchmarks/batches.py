"""4. Batches through a latency-injecting proxy, beside Powertools and against the floor.

Both libraries' handlers get the same botocore client, pointed at :class:`tests.proxy.TcpProxy`
(run in a child process, see :mod:`benchmarks.proxy_process`) in front of DynamoDB Local,
adding the same latency each way per chunk. Sources: Kinesis and DynamoDB Streams (ordered),
SQS FIFO (ordered per message group, ten groups) and SQS standard (unordered: the path S3, SNS
and Kafka records take too). Bodies are no-ops; each library's own batch baseline (the same
handler shape without idempotency) is measured too and subtracted, so the figure is the
idempotency overhead. Every repeat uses fresh record ids, so every record is a first run; the
libraries take turns, their order reversed every other repeat, so drift hits both alike.

The floor (:mod:`benchmarks.floor`) is computed per case from the round trip measured through
the proxy (one GetItem) and the bodies' time (idemlock's baseline): each run's overhead is
reported as a ratio to the floor's, with one write per request and with 25 statements per
request. The floor is also measured (:mod:`benchmarks.measured_floor`): its requests alone,
sent in each repeat beside the libraries' batches, on the same client and server, both request
shapes; idemlock's overhead is reported as a ratio to that too.

Also: a batch whose middle record fails (ordered and unordered), and a redelivered batch whose
records all completed before (without and with each library's local cache).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from benchmarks.common import LIBRARIES, create_table, make_client, summary, unique
from benchmarks.floor import floors, measured
from benchmarks.measured_floor import SHAPES, MeasuredFloor
from benchmarks.proxy_process import ProxyProcess
from benchmarks.subjects import (
    BATCH_SOURCES,
    BatchSource,
    Handler,
    RecordBody,
    context,
    idemlock_batch_handler,
    idemlock_plain_batch,
    powertools_batch_handler,
    powertools_plain_batch,
)
from tests.batch_events import kinesis_event, sqs_event, stream_event
from tests.round_trips import RoundTrips  # counted the way the tests count

FIFO_GROUPS = 10
CONCURRENCY = 32
"""``@idempotent_records``' documented default ``concurrency``: store calls in flight at once."""
BASELINE_RUNS = 3
SPECIAL_SOURCES = ("kinesis", "sqs")
"""The ordered and the unordered path, for the failing-record and redelivered batches."""


def batch_event(source: BatchSource, records: int) -> dict[str, Any]:
    """A batch of ``records`` of ``source`` with ids no other batch uses (all first runs).

    Shapes from :mod:`tests.batch_events`, after the sample events of the AWS Lambda Developer
    Guide ("Using AWS Lambda with Amazon Kinesis", "... with Amazon SQS", "... with Amazon
    DynamoDB"); a FIFO message's ``MessageGroupId`` as SQS delivers it. Ids made fresh here.
    """
    fresh = uuid.uuid4()
    if source.name == "dynamodb_streams":
        event = stream_event(records, first_sequence=fresh.int % 10**24 * 10**6)
        for record in event["Records"]:
            record["eventID"] = f"{fresh.hex}-{record['eventID']}"
        return event
    if source.name == "kinesis":
        event = kinesis_event(records)
        base = fresh.int % 10**30 * 10**8
        for n, record in enumerate(event["Records"]):
            sequence = str(base + n)
            record["kinesis"]["sequenceNumber"] = sequence
            record["eventID"] = f"shardId-000000000000:{sequence}"
        return event
    event = sqs_event(records, fifo=source.fifo, prefix=fresh.hex)
    if source.fifo:
        for n, record in enumerate(event["Records"]):
            record["attributes"]["MessageGroupId"] = f"group-{n % FIFO_GROUPS}"
    return event


def timed(handler: Handler, event: dict[str, Any]) -> tuple[float, Any]:
    """Wall seconds of one handler call, and its response."""
    start = time.perf_counter()
    response = handler(event, context())
    return time.perf_counter() - start, response


def _failed_ids(response: Any) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def round_trip_ms(client: Any, table: str, samples: int = 20) -> dict[str, float]:
    """One consistent GetItem's wall time through ``client`` (its endpoint), in ms."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        client.get_item(TableName=table, Key={"id": {"S": "absent"}}, ConsistentRead=True)
        times.append((time.perf_counter() - start) * 1000)
    return summary(times)


@dataclass
class _Case:
    """One source's handlers, both libraries', on one body, with their baselines."""

    source: BatchSource
    body: RecordBody
    handlers: dict[str, Handler]
    plain: dict[str, Handler]

    def baseline_ms(self, name: str, records: int) -> float:
        """The median wall ms of the handler without idempotency (the bodies' own time)."""
        runs = [
            timed(self.plain[name], batch_event(self.source, records))[0]
            for _ in range(BASELINE_RUNS)
        ]
        return statistics.median(runs) * 1000


def _case(
    client: Any, tables: dict[str, str], source: BatchSource, *, local_cache: int = 0
) -> _Case:
    body = RecordBody()
    return _Case(
        source,
        body,
        {
            "idemlock": idemlock_batch_handler(
                client, tables["idemlock"], unique("ns"), body, local_cache=local_cache
            ),
            "powertools": powertools_batch_handler(
                client, tables["powertools"], source, body, local_cache=local_cache
            ),
        },
        {
            "idemlock": idemlock_plain_batch(body),
            "powertools": powertools_plain_batch(source, body),
        },
    )


MEASURED_FLOOR = "floor"
"""The measured floor's name among the turns of a repeat."""


def _turns(repeat: int, *, floor: bool = False) -> tuple[str, ...]:
    """Who takes a turn in ``repeat``: the libraries and maybe the measured floor, in order.

    The order is reversed every other repeat, so that drift hits each alike.
    """
    turns = (*LIBRARIES, MEASURED_FLOOR) if floor else LIBRARIES
    return turns if repeat % 2 == 0 else tuple(reversed(turns))


def _measure_case(
    case: _Case,
    client: Any,
    records: int,
    repeats: int,
    rtt_ms: float,
    *,
    redeliver: bool = False,
    fail_at: int | None = None,
    floor: MeasuredFloor | None = None,
) -> dict[str, Any]:
    """Both libraries on ``records`` records of the case, ``repeats`` times each, side by side.

    ``redeliver``: each timed batch was delivered (and completed) once before, untimed.
    ``fail_at``: the body of the record numbered so raises (not in the baselines).
    ``floor``: the measured floor takes a turn in each repeat too, in both request shapes.
    """
    baselines = {name: case.baseline_ms(name, records) for name in LIBRARIES}
    case.body.fail_at = fail_at
    floor_runs: dict[str, list[float]] = {shape: [] for shape in SHAPES} if floor else {}
    try:
        runs = {name: _Runs() for name in LIBRARIES}
        for repeat in range(repeats):
            for name in _turns(repeat, floor=floor is not None):
                if name == MEASURED_FLOOR and floor is not None:
                    for shape, walls in floor_runs.items():
                        walls.append(floor.wall_ms(records, shape))
                else:
                    runs[name].run(case, name, client, records, redeliver=redeliver)
    finally:
        case.body.fail_at = None
    row: dict[str, Any] = {name: runs[name].row(baselines[name], rtt_ms) for name in LIBRARIES}
    row["speedup"] = (
        row["powertools"]["overhead_ms"]["median"] / row["idemlock"]["overhead_ms"]["median"]
    )
    row["floor"] = floors(records, CONCURRENCY, rtt_ms=rtt_ms, bodies_ms=baselines["idemlock"])
    overhead = row["idemlock"]["overhead_ms"]["median"]
    row["vs_floor"] = {
        shape: overhead / row["floor"][shape]["overhead_ms"] for shape in ("single", "batched")
    }
    if floor_runs:
        row["floor_measured"] = {
            shape: measured(walls, rtt_ms) for shape, walls in floor_runs.items()
        }
        row["vs_floor_measured"] = {
            shape: overhead / row["floor_measured"][shape]["wall_ms"]["median"] for shape in SHAPES
        }
    return row


@dataclass
class _Runs:
    """One library's timed runs of a case: wall seconds, requests, the records it reported."""

    walls: list[float] = field(default_factory=list)
    calls: list[Counter[str]] = field(default_factory=list)
    failed_positions: list[int] = field(default_factory=list)

    def run(self, case: _Case, name: str, client: Any, records: int, *, redeliver: bool) -> None:
        """Time one batch of fresh records (delivered once before, untimed, if ``redeliver``)."""
        event = batch_event(case.source, records)
        if redeliver:
            timed(case.handlers[name], event)
        with RoundTrips().counting(client) as trips:
            wall, response = timed(case.handlers[name], event)
        self.walls.append(wall)
        self.calls.append(Counter(trips.operations))
        self.failed_positions = [_position(event, failed) for failed in _failed_ids(response)]

    def row(self, baseline_ms: float, rtt_ms: float) -> dict[str, Any]:
        """The runs' summaries: wall and overhead ms, requests, overhead in round trips."""
        overheads = [wall * 1000 - baseline_ms for wall in self.walls]
        operations: Counter[str] = Counter()
        for counted in self.calls:
            operations.update(counted)
        return {
            "repeats": len(self.walls),
            "wall_ms": summary([wall * 1000 for wall in self.walls]),
            "baseline_ms": baseline_ms,
            "overhead_ms": summary(overheads),
            "round_trips": max(sum(counted.values()) for counted in self.calls),
            "operations": {
                op: count // len(self.calls) for op, count in sorted(operations.items())
            },
            "overhead_in_round_trips": statistics.median(overheads) / rtt_ms,
            "failed_positions": self.failed_positions,
        }


def _position(event: dict[str, Any], identifier: str) -> int:
    """Where in the batch the reported record is (its index), from its item identifier."""
    for index, record in enumerate(event["Records"]):
        if identifier in (
            record.get("messageId"),
            record.get("kinesis", {}).get("sequenceNumber"),
            record.get("dynamodb", {}).get("SequenceNumber"),
        ):
            return index
    raise AssertionError(f"the response names {identifier!r}, not a record of the batch")


@dataclass(frozen=True)
class BatchPlan:
    """What the section runs: sizes per source, repeats, and the extra cases' size."""

    sizes: dict[str, list[int]]
    repeats: int
    special_size: int
    """Records in the failing-record and redelivered batches."""


def measure(endpoint_url: str, *, plan: BatchPlan, latency_s: float) -> dict[str, Any]:
    """Per source and size, each library's wall and overhead, round trips, and the floor."""
    port = urlparse(endpoint_url).port
    assert port is not None
    with ProxyProcess(port, latency_s) as proxy:
        client = make_client(proxy.endpoint_url)
        try:
            results = _measure(client, plan)
        finally:
            client.close()
    results["latency_each_way_ms"] = latency_s * 1000
    return results


def _measure(client: Any, plan: BatchPlan) -> dict[str, Any]:
    tables = {name: create_table(client, f"batch-{name}") for name in LIBRARIES}
    rtt = round_trip_ms(client, tables["idemlock"])
    results: dict[str, Any] = {
        "round_trip_ms": rtt,
        "concurrency": CONCURRENCY,
        "repeats": plan.repeats,
        "fifo_groups": FIFO_GROUPS,
        "sources": {},
    }
    cases = {
        name: _case(client, tables, BATCH_SOURCES[name])
        for name in (*plan.sizes, *(s for s in SPECIAL_SOURCES if s not in plan.sizes))
    }
    for case in cases.values():  # warm-up: connections, thread pools, caches
        for handler in case.handlers.values():
            timed(handler, batch_event(case.source, 10))
    table = create_table(client, "batch-floor")
    with closing(MeasuredFloor(client, table, CONCURRENCY)) as floor:
        for shape in SHAPES:  # warm-up: its threads
            floor.wall_ms(10, shape)
        for name, sizes in plan.sizes.items():
            source = BATCH_SOURCES[name]
            results["sources"][name] = {
                "label": source.label,
                "ordered": source.ordered,
                "sizes": {
                    str(records): _measure_case(
                        cases[name], client, records, plan.repeats, rtt["median"], floor=floor
                    )
                    for records in sizes
                },
            }
    results["failing"] = _failing(cases, client, plan, rtt["median"])
    results["redelivered"] = _redelivered(client, tables, plan, rtt["median"])
    return results


def _failing(
    cases: dict[str, _Case], client: Any, plan: BatchPlan, rtt_ms: float
) -> dict[str, Any]:
    """The middle record's body raises: an ordered and an unordered batch."""
    rows: dict[str, Any] = {}
    for name in SPECIAL_SOURCES:
        rows[name] = _measure_case(
            cases[name],
            client,
            plan.special_size,
            plan.repeats,
            rtt_ms,
            fail_at=plan.special_size // 2,
        )
        rows[name]["label"] = BATCH_SOURCES[name].label
    return {"records": plan.special_size, "sources": rows}


def _redelivered(
    client: Any, tables: dict[str, str], plan: BatchPlan, rtt_ms: float
) -> dict[str, Any]:
    """A batch delivered again after it completed: every record a duplicate."""
    rows: dict[str, Any] = {}
    for name in SPECIAL_SOURCES:
        source = BATCH_SOURCES[name]
        rows[name] = {"label": source.label, "variants": {}}
        for cache in (0, 2 * plan.special_size):
            case = _case(client, tables, source, local_cache=cache)
            for handler in case.handlers.values():
                timed(handler, batch_event(source, 10))
            variant = "local_cache" if cache else "no_cache"
            rows[name]["variants"][variant] = _measure_case(
                case, client, plan.special_size, plan.repeats, rtt_ms, redeliver=True
            )
    return {"records": plan.special_size, "sources": rows}
