"""7. Capacity units per call: what DynamoDB bills each path, for both libraries.

Every request carries ``ReturnConsumedCapacity=TOTAL`` (added by a botocore hook, so neither
library is changed) and the units each response reports are summed per call. DynamoDB Local
reports them for requests that succeed, not for a conditional write whose condition failed; a
failed conditional write is billed all the same, so it is counted by DynamoDB's documented rule
(Amazon DynamoDB Developer Guide, "DynamoDB read and write operations", capacity unit
consumption for writes: a write whose condition fails consumes write units by the size of the
existing item, at least one) from the item the failure returns (``ALL_OLD``; both libraries ask
for it). Item sizes follow the guide's rule too: attribute names plus values, numbers by their
significant digits.

Results are none, and JSON documents of 1 KB, 10 KB and 100 KB (:func:`json_document`: order
lines with varied numbers, dates and random tracking codes, which compress about 3-5 times, less
than most real JSON does). The price per million calls uses
on-demand rates in us-east-1: $0.625 per million write request units and $0.125 per million
read request units (AWS's DynamoDB pricing page; the rates since the price reduction of
2024-11-01). Hot keys: 100 concurrent duplicates of one completed key, with and without each
library's local cache.

Compression: what idemlock's zlib costs, on the same documents and one of 600 KB (over
DynamoDB's 400 KB item limit as text): bytes stored, and the client CPU to compress (once per
complete) and to decompress (once per duplicate), the median over some runs, best of five.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

from benchmarks.common import LIBRARIES, PATHS, create_table, make_client, unique
from benchmarks.paths import call, check, setup
from benchmarks.subjects import LastKey, Subject, context, make_subject
from idemlock.dynamodb import COMPRESS_ABOVE_BYTES, DynamoDBStore

RESULT_SIZES = (0, 1024, 10 * 1024, 100 * 1024)
COMPRESSION_SIZES = (1024, 10 * 1024, 100 * 1024, 600 * 1024)
WRITE_PRICE_PER_MILLION = 0.625
READ_PRICE_PER_MILLION = 0.125
PRICE_DATE = "2024-11-01"
HOT_KEY_CALLS = 100
HOT_KEY_THREADS = 16


READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
"""Operations that read (their ``CapacityUnits`` are read units)."""
METERED = (
    *sorted(READS),
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
)
"""Every operation that takes ``ReturnConsumedCapacity``: whichever a store sends is counted."""
PARTIQL = frozenset({"ExecuteStatement", "BatchExecuteStatement"})
BILLED_FAILURES = frozenset({"ConditionalCheckFailed", "DuplicateItem", "DuplicateItemException"})
"""A PartiQL write statement that fails so is billed as a write (its condition was checked)."""


class CapacityMeter:
    """Sums the write and read units a client's requests consume (a botocore hook pair).

    DynamoDB Local reports no ``ConsumedCapacity`` for PartiQL requests (``ExecuteStatement``,
    ``BatchExecuteStatement``): their statements are counted by DynamoDB's rule instead, one
    unit per statement, or by the size of the item a failed statement returns
    (``estimated_statements`` says how many were counted so; exact for items under 1 KB, as
    every item without a stored result is).
    """

    def __init__(self, client: Any) -> None:
        self.write = 0.0
        self.read = 0.0
        self.failed_writes = 0
        self.estimated_statements = 0
        self._lock = threading.Lock()
        events = client.meta.events
        for operation in METERED:
            events.register(f"provide-client-params.dynamodb.{operation}", self._ask)
            events.register(f"after-call.dynamodb.{operation}", self._count)

    @contextmanager
    def measuring(self) -> Iterator[CapacityMeter]:
        """Zero the counts, then count what the block consumes."""
        with self._lock:
            self.write = self.read = 0.0
            self.failed_writes = 0
            self.estimated_statements = 0
        yield self

    def _ask(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")
        context["capacity_reads"] = _reads(model.name, params)

    def _count(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity")
        reads = bool(context.get("capacity_reads"))
        with self._lock:
            if isinstance(consumed, dict):
                self._add(consumed, reads)
            elif isinstance(consumed, list):
                for entry in consumed:
                    self._add(entry, reads)
            elif parsed.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                self.failed_writes += 1
                self.write += write_units(parsed.get("Item") or {})
            elif model.name in PARTIQL:
                self._count_statements(parsed, reads)

    def _add(self, consumed: dict[str, Any], reads: bool) -> None:
        self.write += float(consumed.get("WriteCapacityUnits", 0.0))
        self.read += float(consumed.get("ReadCapacityUnits", 0.0))
        if "WriteCapacityUnits" not in consumed and "ReadCapacityUnits" not in consumed:
            units = float(consumed.get("CapacityUnits", 0.0))
            if reads:
                self.read += units
            else:
                self.write += units

    def _count_statements(self, parsed: dict[str, Any], reads: bool) -> None:
        responses = parsed.get("Responses") or [parsed]
        for response in responses:
            self.estimated_statements += 1
            error = response.get("Error") or {}
            if reads:
                self.read += 1.0
            elif error.get("Code") in BILLED_FAILURES:
                self.failed_writes += 1
                self.write += write_units(error.get("Item") or {})
            elif not error:
                self.write += 1.0


def _reads(operation: str, params: dict[str, Any]) -> bool:
    """Whether a request reads: a read operation, or PartiQL statements that all SELECT."""
    if operation in READS:
        return True
    if operation not in PARTIQL:
        return False
    statements = params.get("Statements") or [{"Statement": params.get("Statement", "")}]
    return all(
        str(statement.get("Statement", "")).lstrip().upper().startswith("SELECT")
        for statement in statements
    )


def item_size(item: dict[str, Any]) -> int:
    """An item's size in bytes by DynamoDB's rule: attribute names plus their values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    """One value's size; both libraries write only strings and numbers (and flags)."""
    ((kind, data),) = value.items()
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("S", "B"):
        return len(data.encode() if isinstance(data, str) else data)
    raise ValueError(f"no size rule here for a {kind} value")


def write_units(item: dict[str, Any]) -> float:
    """Write units of a write on ``item``: one per KB, at least one."""
    return float(max(1, math.ceil(item_size(item) / 1024)))


def json_document(size: int) -> dict[str, Any]:
    """A JSON object of at least ``size`` bytes as text: an order's lines, the same every run."""
    rnd = random.Random(size)
    skus = [f"SKU-{rnd.randrange(10**5):05d}" for _ in range(50)]
    lines: list[dict[str, Any]] = []
    document = {"order_id": "order-000001", "lines": lines}
    text_size = len(json.dumps(document))
    while text_size < size:
        line = {
            "line": len(lines) + 1,
            "sku": rnd.choice(skus),
            "quantity": rnd.randint(1, 20),
            "unit_price": round(rnd.uniform(1, 500), 2),
            "currency": "EUR",
            "warehouse": rnd.choice(("DUB1", "FRA2", "AMS1", "MAD3")),
            "shipped_at": f"2026-11-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:"
            f"{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}Z",
            "tracking": "".join(
                rnd.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(18)
            ),
        }
        lines.append(line)
        text_size += len(json.dumps(line)) + 2
    return document


def _body_returning(size: int) -> Any:
    value = None if size == 0 else json_document(size)
    return lambda event: value


def compression(*, runs: int) -> dict[str, Any]:
    """Per document size: JSON and stored bytes, and µs to compress and to decompress."""
    # Imported here: the store's private codec is what is measured, and only here.
    from idemlock.dynamodb import _result_text, _result_value  # noqa: PLC0415

    rows: dict[str, Any] = {}
    for size in COMPRESSION_SIZES:
        text = json.dumps(json_document(size))
        value = _result_value(text)
        if _result_text(value, "bench") != text:
            raise AssertionError(f"{size}: the stored result does not read back")
        rows[str(size)] = {
            "json_bytes": len(text.encode("utf-8")),
            "stored_bytes": DynamoDBStore.stored_result_bytes(text),
            "compress_us": _best_median_us(partial(_result_value, text), runs),
            "decompress_us": _best_median_us(partial(_result_text, value, "bench"), runs),
        }
    return {"threshold_bytes": COMPRESS_ABOVE_BYTES, "runs": runs, "sizes": rows}


def _best_median_us(operation: Callable[[], object], runs: int) -> float:
    """The lowest of five medians of ``runs`` timed runs, in µs (the least disturbed)."""
    medians = []
    for _ in range(5):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            operation()
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times) * 1e6)
    return min(medians)


def _per_call(subject: Subject, path: str, admin: Any, meter: CapacityMeter, size: int) -> Any:
    last_key = LastKey(subject.client)
    subject_body = _body_returning(size)
    event = setup(subject, path, admin, subject.table, last_key.get)
    if path not in ("body_raises",):
        subject.slot.body = subject_body
    if path == "duplicate_completed":
        # The key was completed with the no-op body: complete it again with this size's result.
        event = {"order_id": unique("order"), "amount": 42}
        call(subject, event, context())
    with meter.measuring():
        outcome = call(subject, event, context())
    check(subject, path, outcome)
    return {"wcu": meter.write, "rcu": meter.read, "failed_writes": meter.failed_writes}


def _price(wcu: float, rcu: float) -> float:
    """Dollars per million calls at on-demand rates."""
    return wcu * WRITE_PRICE_PER_MILLION + rcu * READ_PRICE_PER_MILLION


def measure(endpoint_url: str, *, compression_runs: int) -> dict[str, Any]:
    """Per library, path and result size: WCU and RCU per call, $ per million calls; hot keys."""
    client = make_client(endpoint_url)
    try:
        meter = CapacityMeter(client)
        subjects = {
            name: make_subject(name, client, create_table(client, f"cost-{name}"), unique("ns"))
            for name in LIBRARIES
        }
        paths: dict[str, Any] = {}
        for path in PATHS:
            sizes = RESULT_SIZES if path in ("first_run", "duplicate_completed") else (0,)
            for size in sizes:
                row: dict[str, Any] = {}
                for name in LIBRARIES:
                    units = _per_call(subjects[name], path, client, meter, size)
                    units["usd_per_million"] = _price(units["wcu"], units["rcu"])
                    row[name] = units
                paths[f"{path}:{size}"] = row
        hot = {name: _hot_key(client, meter, name) for name in LIBRARIES}
    finally:
        client.close()
    return {
        "price": {
            "write_per_million_usd": WRITE_PRICE_PER_MILLION,
            "read_per_million_usd": READ_PRICE_PER_MILLION,
            "region": "us-east-1",
            "since": PRICE_DATE,
        },
        "paths": paths,
        "hot_key": hot,
        "compression": compression(runs=compression_runs),
    }


def _hot_key(client: Any, meter: CapacityMeter, name: str) -> dict[str, Any]:
    """100 concurrent duplicates of one completed 1 KB key: units in all, without and with cache."""
    results: dict[str, Any] = {}
    for cache in (0, 256):
        subject = make_subject(
            name, client, create_table(client, f"hot-{name}"), unique("ns"), local_cache=cache
        )
        subject.slot.body = _body_returning(1024)
        event = {"order_id": unique("order"), "amount": 42}
        call(subject, event, context())  # completes the key (and warms the cache, if any)
        with meter.measuring():
            outcomes = _concurrently(subject, event)
        if set(outcomes) != {"returned"}:
            raise AssertionError(f"{name}: hot-key duplicates ended {set(outcomes)}")
        results["local_cache" if cache else "no_cache"] = {
            "calls": HOT_KEY_CALLS,
            "wcu": meter.write,
            "rcu": meter.read,
            "failed_writes": meter.failed_writes,
        }
    return results


def _concurrently(subject: Subject, event: dict[str, Any]) -> list[str]:
    """``HOT_KEY_CALLS`` calls with ``event`` from ``HOT_KEY_THREADS`` threads at once."""
    with ThreadPoolExecutor(HOT_KEY_THREADS) as pool:
        return list(pool.map(lambda _: call(subject, event, context()), range(HOT_KEY_CALLS)))
