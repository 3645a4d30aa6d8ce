"""The two libraries, set up the way their documentation shows, on a client we choose.

Both get the same botocore client (or the same in-memory stand-in), the same Lambda context and
the same body; only the library between handler and table differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency import (
    idempotent as powertools_idempotent,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

import idemlock
from idemlock.errors import InProgressError
from idemlock.testing import LambdaContext
from tests.batch_events import number

Handler = Callable[[dict[str, Any], Any], Any]


class BodySlot:
    """The body a handler runs, swappable between measurements (no-op, raise, ...)."""

    def __init__(self) -> None:
        self.body: Callable[[dict[str, Any]], Any] = noop

    def __call__(self, event: dict[str, Any]) -> Any:
        """Run the current body."""
        return self.body(event)


def noop(_: dict[str, Any]) -> None:
    """The body of every overhead measurement: nothing to do."""


class BodyFailed(Exception):
    """What the failing body raises."""


def fail(_: dict[str, Any]) -> None:
    """The body of the "body raises" path."""
    raise BodyFailed("the body failed")


@dataclass(frozen=True)
class Dialect:
    """Where a library keeps an item's state, to put an item into a given state directly."""

    status: str
    in_progress: str
    lease_ms: str
    result: str


IDEMLOCK_DIALECT = Dialect("status", "IN_PROGRESS", "lease_expires_at_ms", "result")
POWERTOOLS_DIALECT = Dialect("status", "INPROGRESS", "in_progress_expiration", "data")


@dataclass
class Subject:
    """One library's single-event handler ``handler(event, context)``."""

    name: str
    handler: Handler
    slot: BodySlot
    in_progress_error: type[BaseException]
    dialect: Dialect
    client: Any
    """The botocore client the library talks through: ours, or the one it made itself."""
    table: str


def context(remaining_ms: int = 300_000) -> LambdaContext:
    """A Lambda context with the attributes either library reads."""
    return LambdaContext(remaining_ms=remaining_ms)


def idemlock_subject(
    client: Any,
    table: str,
    namespace: str,
    *,
    local_cache: int = 0,
    on_event: Callable[[Any], object] | None = None,
) -> Subject:
    """``@idempotent`` with a key function and a ``DynamoDBStore`` on ``client``.

    ``client=None``: the store makes its own client, as for a user who passes none.
    """
    slot = BodySlot()
    store = idemlock.DynamoDBStore(table, client=client)

    @idemlock.idempotent(
        lambda event, context: event["order_id"],
        store=store,
        namespace=namespace,
        local_cache=local_cache,
        on_event=on_event,
    )
    def handler(event: dict[str, Any], context: Any) -> Any:
        return slot(event)

    return Subject(
        "idemlock", handler, slot, InProgressError, IDEMLOCK_DIALECT, store.client, table
    )


def powertools_subject(client: Any, table: str, *, local_cache: int = 0) -> Subject:
    """Powertools' ``@idempotent``: ``event_key_jmespath`` and a DynamoDB layer on ``client``.

    ``client=None``: the layer makes its own client, as for a user who passes none.
    """
    slot = BodySlot()
    layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)
    config = IdempotencyConfig(
        event_key_jmespath="order_id",
        use_local_cache=local_cache > 0,
        local_cache_max_items=max(local_cache, 1),
    )

    @powertools_idempotent(config=config, persistence_store=layer)
    def handler(event: dict[str, Any], context: Any) -> Any:
        return slot(event)

    return Subject(
        "powertools",
        handler,
        slot,
        IdempotencyAlreadyInProgressError,
        POWERTOOLS_DIALECT,
        layer.client,
        table,
    )


def make_subject(
    name: str, client: Any, table: str, namespace: str, *, local_cache: int = 0
) -> Subject:
    """The named library's subject."""
    if name == "idemlock":
        return idemlock_subject(client, table, namespace, local_cache=local_cache)
    return powertools_subject(client, table, local_cache=local_cache)


def set_state(client: Any, table: str, key: str, dialect: Dialect, *, expired: bool) -> None:
    """Rewrite a completed item as ``IN_PROGRESS``: another invocation's live or expired lease.

    This is the item a running (or crashed) invocation leaves; written directly, so the path
    under measurement starts from the same state for both libraries and no thread is involved.
    """
    item = dict(
        client.get_item(TableName=table, Key={"id": {"S": key}}, ConsistentRead=True)["Item"]
    )
    now_ms = int(time.time() * 1000)
    item[dialect.status] = {"S": dialect.in_progress}
    item[dialect.lease_ms] = {"N": str(now_ms - 60_000 if expired else now_ms + 600_000)}
    item.pop(dialect.result, None)
    item.pop("completed_at_ms", None)
    client.put_item(TableName=table, Item=item)


class LastKey:
    """The partition key of the last item a real client wrote (a botocore parameter hook)."""

    def __init__(self, client: Any) -> None:
        self.key: str | None = None
        client.meta.events.register("provide-client-params.dynamodb.PutItem", self._on_params)
        client.meta.events.register("provide-client-params.dynamodb.UpdateItem", self._on_params)

    def get(self) -> str | None:
        """The key recorded last."""
        return self.key

    def _on_params(self, params: dict[str, Any], **_: Any) -> None:
        source = params.get("Key") or params.get("Item") or {}
        value = source.get("id")
        if value is not None:
            self.key = value["S"]


# -- batches -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSource:
    """An event source whose batches both libraries process, and how each is told about it."""

    name: str
    label: str
    ordered: bool
    """Whether records arrive in an order to keep (streams; SQS FIFO within a message group)."""
    event_type: EventType
    powertools_key: str
    """The JMESPath Powertools' documentation keys this source's records on."""
    fifo: bool = False


BATCH_SOURCES = {
    source.name: source
    for source in (
        BatchSource("kinesis", "Kinesis (ordered)", True, EventType.KinesisDataStreams, "eventID"),
        BatchSource(
            "dynamodb_streams",
            "DynamoDB Streams (ordered)",
            True,
            EventType.DynamoDBStreams,
            "eventID",
        ),
        BatchSource(
            "sqs_fifo",
            "SQS FIFO (ordered per group)",
            True,
            EventType.SQS,
            "messageId",
            fifo=True,
        ),
        BatchSource("sqs", "SQS standard (unordered)", False, EventType.SQS, "messageId"),
    )
}


class RecordBody:
    """The body every record runs: nothing, or a failure for the record numbered ``fail_at``.

    Gets the record as delivered (a dict); the records' numbers come from
    :func:`tests.batch_events.number`.
    """

    def __init__(self) -> None:
        self.fail_at: int | None = None

    def __call__(self, record: dict[str, Any]) -> None:
        """Run the body on one record."""
        if self.fail_at is not None and number(record) == self.fail_at:
            raise BodyFailed(f"record {self.fail_at} fails")


def idemlock_batch_handler(
    client: Any, table: str, namespace: str, body: RecordBody, *, local_cache: int = 0
) -> Handler:
    """``@idempotent_records`` on the record body (key: the source's natural record id)."""
    store = idemlock.DynamoDBStore(table, client=client)

    @idemlock.idempotent_records(store=store, namespace=namespace, local_cache=local_cache)
    def handle(record: dict[str, Any], context: Any) -> None:
        body(record)

    return handle


def _processor(source: BatchSource) -> BatchProcessor:
    # Powertools' documentation: SqsFifoPartialProcessor for FIFO queues (it stops at the first
    # failure, as a FIFO queue needs), BatchProcessor of the event type otherwise.
    if source.fifo:
        return SqsFifoPartialProcessor()
    return BatchProcessor(event_type=source.event_type)


def powertools_batch_handler(
    client: Any, table: str, source: BatchSource, body: RecordBody, *, local_cache: int = 0
) -> Handler:
    """Powertools' documented pattern: processor, ``process_partial_response``, per-record key.

    A batch processor of the source's type, ``process_partial_response``, and
    ``@idempotent_function`` on the record handler, keyed on the record's id.
    """
    processor = _processor(source)
    layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)
    config = IdempotencyConfig(
        event_key_jmespath=source.powertools_key,
        use_local_cache=local_cache > 0,
        local_cache_max_items=max(local_cache, 1),
    )

    def handle_record(record: Any) -> None:
        body(record.raw_event)

    # Applied as a call: the decorator is untyped.
    record_handler: Callable[..., Any] = idempotent_function(
        handle_record, data_keyword_argument="record", config=config, persistence_store=layer
    )

    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        config.register_lambda_context(context)
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return lambda_handler


def idemlock_plain_batch(body: RecordBody) -> Handler:
    """The same body over the records, without idempotency: idemlock's baseline."""

    def handle(event: dict[str, Any], context: Any) -> Any:
        for record in event["Records"]:
            body(record)
        return {"batchItemFailures": []}

    return handle


def powertools_plain_batch(source: BatchSource, body: RecordBody) -> Handler:
    """The batch processor on the same body without idempotency: Powertools' baseline."""
    processor = _processor(source)

    def record_handler(record: Any) -> None:
        body(record.raw_event)

    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return lambda_handler
