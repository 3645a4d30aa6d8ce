"""The floor measured on this server: the fewest requests any design needs, sent bare.

The computed floor (:mod:`benchmarks.floor`) prices each wave of requests at one round trip, as
real DynamoDB serves concurrent requests in parallel. DynamoDB Local does not: it spends about
10 ms of its own CPU on a 25-statement ``BatchExecuteStatement``, on the cores it shares with
the client, so concurrent requests queue behind each other and a wave of them costs several
round trips. No design can beat what this server does with the requests every design needs, so
that is measured too, beside idemlock, on the same server, through the same proxy, on the same
client, with the same concurrency:

- ``batched``: the claims of N records as the ``INSERT`` statements idemlock sends (built by
  :mod:`idemlock._partiql`, 25 to a request: ⌈N/25⌉ requests), all at once, at most C in
  flight; the completes' ``UPDATE`` statements of each request's records sent in one request as
  soon as its claims and every earlier one are back (the bodies run in record order and take no
  time); the batch ends when the last complete is back.
- ``single``: the same with one conditional ``UpdateItem`` per claim and per complete.

Nothing else: no reads, no retries, no idemlock code between the requests; every batch on keys
no other batch used, so every claim succeeds (one that does not is an error: that floor would
not be the first run it stands for).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

from benchmarks.floor import STATEMENTS_PER_REQUEST
from idemlock._partiql import Statements
from idemlock._policy import in_progress_ttl_s
from idemlock.dynamodb import AttributeNames
from idemlock.store import Claim, CompleteRequest

T = TypeVar("T")
Call = Callable[[], None]
"""One request, sent when called; raises if the server refused any of its writes."""

SHAPES = ("single", "batched")
"""The request shapes measured: one write per request, 25 statements per request."""
LEASE_MS = 300_000
"""A claim's lease, as idemlock's batch handler gives one with five minutes left."""
RETENTION_S = 86_400
"""How long a completed key is kept (idemlock's default retention, a day)."""
NO_RESULT = "null"
"""The result a no-op body stores: ``None`` as JSON."""


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in order, ``size`` to a list (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"a chunk holds at least 1 item, got {size}")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def lock_writes(keys: Sequence[str], now_ms: int) -> list[tuple[Claim, CompleteRequest]]:
    """Each key's claim and complete, as idemlock writes a first run with a no-op body.

    One owner per key, as the batch handler takes each record's lock with its own token.
    """
    lease_ends_ms = now_ms + LEASE_MS
    return [
        (
            Claim(
                key=key,
                owner=owner,
                now_ms=now_ms,
                fence_base=now_ms * 1000 + n,
                lease_expires_at_ms=lease_ends_ms,
                expires_at_s=in_progress_ttl_s(lease_ends_ms),
            ),
            CompleteRequest(key, owner, now_ms, NO_RESULT, now_ms // 1000 + RETENTION_S),
        )
        for n, (key, owner) in enumerate((key, uuid.uuid4().hex) for key in keys)
    ]


def batched_requests(
    table: str, writes: Sequence[tuple[Claim, CompleteRequest]]
) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
    """The claims' and the completes' ``BatchExecuteStatement`` statements, request by request.

    The n-th complete request carries the completes of the n-th claim request's records.
    """
    texts = Statements(table, AttributeNames(), None)
    chunks = chunked(writes, STATEMENTS_PER_REQUEST)
    claims = [[texts.claim_statement(claim) for claim, _ in chunk] for chunk in chunks]
    completes = [
        [texts.complete_statement(complete, {"S": NO_RESULT}) for _, complete in chunk]
        for chunk in chunks
    ]
    return claims, completes


_CLAIM_UPDATE = (
    "SET #status = :status, #owner = :owner, #fence = :fence, #claimed_at_ms = :now_ms,"
    " #lease_expires_at_ms = :lease, #expires_at_s = :expires, #attempts = :one"
)
_COMPLETE_UPDATE = (
    "SET #status = :status, #completed_at_ms = :now_ms, #result = :result,"
    " #expires_at_s = :expires REMOVE #lease_expires_at_ms"
)


def single_requests(
    table: str, writes: Sequence[tuple[Claim, CompleteRequest]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The claims' and the completes' ``UpdateItem`` parameters, one write each.

    A claim is conditioned on the key having no item (a first run's only case), a complete on
    its owner: the least each write must check.
    """
    claims = [
        _update(
            table,
            claim.key,
            _CLAIM_UPDATE,
            "attribute_not_exists(#id)",
            {
                ":status": {"S": "IN_PROGRESS"},
                ":owner": {"S": claim.owner},
                ":fence": {"N": str(claim.fence_base + 1)},
                ":now_ms": {"N": str(claim.now_ms)},
                ":lease": {"N": str(claim.lease_expires_at_ms)},
                ":expires": {"N": str(claim.expires_at_s)},
                ":one": {"N": "1"},
            },
        )
        for claim, _ in writes
    ]
    completes = [
        _update(
            table,
            complete.key,
            _COMPLETE_UPDATE,
            "#owner = :owner",
            {
                ":status": {"S": "COMPLETED"},
                ":owner": {"S": complete.owner},
                ":now_ms": {"N": str(complete.now_ms)},
                ":result": {"S": NO_RESULT},
                ":expires": {"N": str(complete.expires_at_s)},
            },
        )
        for _, complete in writes
    ]
    return claims, completes


def _update(
    table: str, key: str, update: str, condition: str, values: dict[str, Any]
) -> dict[str, Any]:
    named = sorted(set(re.findall(r"#(\w+)", f"{update} {condition}")))
    return {
        "TableName": table,
        "Key": {"id": {"S": key}},
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {f"#{name}": name for name in named},
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def send_in_record_order(claims: Sequence[Call], completes: Sequence[Call], pool: Executor) -> None:
    """Send every claim at once (``pool``'s workers bound how many fly), then the completes.

    The n-th complete goes once the n-th claim and every one before it are back, as bodies run
    in record order; returns when the last complete is back. Raises the first failure.
    """
    sent = [pool.submit(claim) for claim in claims]
    completing: list[Future[None]] = []
    for claim, complete in zip(sent, completes, strict=True):
        claim.result()
        completing.append(pool.submit(complete))
    for future in completing:
        future.result()


def batch_call(client: Any, texts: list[dict[str, Any]]) -> Call:
    """One ``BatchExecuteStatement`` of ``texts``; a statement refused is an error."""

    def send() -> None:
        response = client.batch_execute_statement(Statements=texts)
        refused = [answer["Error"] for answer in response["Responses"] if "Error" in answer]
        if refused:
            raise RuntimeError(f"the floor's request had {len(refused)} refused: {refused[0]}")

    return send


def item_call(client: Any, parameters: dict[str, Any]) -> Call:
    """One ``UpdateItem``; a failed condition raises (botocore's ``ClientError``)."""

    def send() -> None:
        client.update_item(**parameters)

    return send


def floor_calls(
    client: Any, table: str, shape: str, writes: Sequence[tuple[Claim, CompleteRequest]]
) -> tuple[list[Call], list[Call]]:
    """The claims' and the completes' requests of ``writes`` in ``shape``, ready to send."""
    if shape == "batched":
        claims, completes = batched_requests(table, writes)
        return (
            [batch_call(client, texts) for texts in claims],
            [batch_call(client, texts) for texts in completes],
        )
    if shape == "single":
        single_claims, single_completes = single_requests(table, writes)
        return (
            [item_call(client, parameters) for parameters in single_claims],
            [item_call(client, parameters) for parameters in single_completes],
        )
    raise ValueError(f"no request shape {shape!r}: choose from {', '.join(SHAPES)}")


class MeasuredFloor:
    """The floor's requests for batches of fresh keys in one table, ``concurrency`` in flight.

    The client is the one the libraries use (its connections, its pool size); the threads are
    this object's own, made once, as idemlock's handler keeps its pool between batches.
    """

    def __init__(self, client: Any, table: str, concurrency: int) -> None:
        self._client = client
        self._table = table
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="floor")

    def wall_ms(self, records: int, shape: str) -> float:
        """Wall ms of one batch of ``records`` fresh keys with requests of ``shape``."""
        namespace = uuid.uuid4().hex
        writes = lock_writes(
            [f"floor-{namespace}#{n}" for n in range(records)], time.time_ns() // 1_000_000
        )
        claims, completes = floor_calls(self._client, self._table, shape, writes)
        start = time.perf_counter()
        send_in_record_order(claims, completes, self._pool)
        return (time.perf_counter() - start) * 1000

    def close(self) -> None:
        """Stop the threads (``contextlib.closing`` calls it)."""
        self._pool.shutdown()
