"""``StreamDispatcher``: DynamoDB Streams records routed to handlers, idempotent per record.

The one module that composes an event source (:mod:`idemlock.sources.dynamodb_streams`) with
per-record processing (:mod:`idemlock.batch`): it sits above both, so that neither imports the
other's layer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from idemlock._decorator import idempotent_records
from idemlock.errors import ConfigurationError, EventError
from idemlock.sources.dynamodb_streams import EVENT_SOURCE, StreamRecord

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

    from idemlock._options import RecordsOptions
    from idemlock.batch import BatchOutcome

__all__ = ["HandlerList", "StreamDispatcher", "StreamHandler"]

logger = logging.getLogger("idemlock")

StreamHandler = Callable[[StreamRecord], object]
"""A handler of one stream record."""


class HandlerList(list[StreamHandler]):
    """The handlers of one event name, run in order: ``.append`` them, or decorate with the list.

    ::

        @dispatcher.on_insert
        def audit(record: StreamRecord) -> None: ...

        dispatcher.on_remove.append(lambda record: print("removed", record.keys))
    """

    def __call__(self, handler: StreamHandler) -> StreamHandler:
        """Append ``handler`` and return it unchanged (decorator use)."""
        if not callable(handler):
            raise ConfigurationError(f"a stream handler must be callable, got {handler!r}")
        self.append(handler)
        return handler


class StreamDispatcher:
    """Route DynamoDB Streams records to handlers by event name, idempotent per record.

    ``dispatch(event, context)`` is a Lambda handler: each record becomes a :class:`StreamRecord`
    and goes to every handler of its event name (``on_insert``, ``on_modify``, ``on_remove``), in
    order, as one unit: the record completes when all of them returned, and a failure releases it
    so that the redelivery runs all of them again. It returns the partial batch response (the
    first failed record's sequence number; the records after it are not run). A record of another
    event name goes to ``on_unknown`` handlers, and is logged when there are none: it is
    reported, never a crash.

    Records are keyed by :func:`~idemlock.sources.dynamodb_streams.sequence_key` under
    ``namespace`` (default ``"StreamDispatcher"``): two functions that consume the same stream
    with one lock table need distinct namespaces. ``idempotent=False`` dispatches without any
    lock. The other options are those of :func:`idemlock.idempotent_records`.
    """

    def __init__(
        self,
        *,
        idempotent: bool = True,
        **options: Unpack[RecordsOptions],
    ) -> None:
        self.on_insert = HandlerList()
        self.on_modify = HandlerList()
        self.on_remove = HandlerList()
        self.on_unknown = HandlerList()
        options.setdefault("namespace", "StreamDispatcher")
        if not idempotent:
            options["disabled"] = True
        self._handler = idempotent_records(**options)(self._handle)

    def dispatch(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """The Lambda handler: dispatch every record, return ``{"batchItemFailures": [...]}``."""
        return self.process(event, context).response()

    def process(self, event: Mapping[str, Any], context: Any = None) -> BatchOutcome:
        """Dispatch every record and return each one's outcome."""
        _check_trigger(event)
        return self._handler.process(event, context)

    def _handle(self, record: Mapping[str, Any], context: object) -> Awaitable[None] | None:
        """Run the record's handlers in order; an awaitable when one of them is async."""
        stream_record = StreamRecord.from_record(record)
        handlers = {
            "INSERT": self.on_insert,
            "MODIFY": self.on_modify,
            "REMOVE": self.on_remove,
        }.get(stream_record.event_name)
        if handlers is None:
            handlers = self.on_unknown
            if not handlers:
                logger.warning(
                    "no handler for stream event %r (record %s); skipped",
                    stream_record.event_name,
                    stream_record.sequence_key,
                )
        for position, handler in enumerate(handlers):
            result = handler(stream_record)
            if isinstance(result, Awaitable):
                # The batch awaits it under the record's lock; the rest run after it, in order.
                return _finish(result, handlers[position + 1 :], stream_record)
        return None


async def _finish(
    running: Awaitable[object], handlers: list[StreamHandler], record: StreamRecord
) -> None:
    """Await an async handler's result, then run (and await) the handlers after it."""
    await running
    for handler in handlers:
        result = handler(record)
        if isinstance(result, Awaitable):
            await result


def _check_trigger(event: object) -> None:
    """A dispatcher wired to another trigger fails at once, naming both sources.

    Record by record, each would fail to parse and be retried forever, with the reason visible
    only in the outcomes.
    """
    records = event.get("Records") if isinstance(event, Mapping) else None
    listed = isinstance(records, Sequence) and not isinstance(records, (str, bytes))
    first = records[0] if listed and records else None
    found = (
        first.get("eventSource", first.get("EventSource")) if isinstance(first, Mapping) else None
    )
    if isinstance(found, str) and found != EVENT_SOURCE:
        raise EventError(
            f"StreamDispatcher handles DynamoDB Streams records ({EVENT_SOURCE!r}), but this "
            f"event's records come from {found!r}: wire the dispatcher to a table's stream, or "
            "use idempotent_records for this source",
            path="Records[0].eventSource",
            source=EVENT_SOURCE,
        )
