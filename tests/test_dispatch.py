"""StreamDispatcher: DynamoDB stream records routed by event name, idempotent per record."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from idemlock import StreamDispatcher, StreamRecord
from idemlock.errors import ConfigurationError
from idemlock.testing import LambdaContext, MemoryStore
from tests.aws import fresh_table
from tests.batch_events import stream_event
from tests.sources_helpers import load_event


def test_records_go_to_every_handler_of_their_event_name_in_order() -> None:
    """INSERT/MODIFY/REMOVE reach their handler lists (decorators, append, lambdas), in order."""
    dispatcher = StreamDispatcher(store=MemoryStore())
    seen: list[tuple[str, Any]] = []

    @dispatcher.on_insert
    def inserted(record: StreamRecord) -> None:
        assert record.new is not None
        seen.append(("insert", record.new["Message"]))

    dispatcher.on_insert.append(lambda record: seen.append(("insert-2", record.keys)))
    dispatcher.on_modify.append(lambda record: seen.append(("modify", record.changed)))
    dispatcher.on_remove.append(lambda record: seen.append(("remove", record.keys)))

    assert dispatcher.dispatch(load_event("dynamodb-stream.json"), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert [name for name, _ in seen] == ["insert", "insert-2", "modify", "remove"]
    assert seen[0][1] == "New item!"
    changed = seen[2][1]
    assert set(changed) == {"Message"}
    assert changed["Message"].new == "This item has changed"


def test_a_redelivered_event_runs_each_handler_once() -> None:
    """Idempotent per record by default: the same records again run nothing."""
    dispatcher = StreamDispatcher(store=MemoryStore())
    runs: list[str] = []
    dispatcher.on_modify.append(lambda record: runs.append(record.sequence_number))

    dispatcher.dispatch(stream_event(3))
    dispatcher.dispatch(stream_event(3))
    assert runs == ["100", "101", "102"]


def test_idempotent_false_runs_every_delivery() -> None:
    """idempotent=False dispatches without locks."""
    store = MemoryStore()
    dispatcher = StreamDispatcher(store=store, idempotent=False)
    runs: list[str] = []
    dispatcher.on_modify.append(lambda record: runs.append(record.sequence_number))

    dispatcher.dispatch(stream_event(2))
    dispatcher.dispatch(stream_event(2))
    assert len(runs) == 4
    assert store.calls.total() == 0


def test_unknown_event_names_are_reported_not_crashed_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A record of another event name is logged (or sent to on_unknown); the batch succeeds."""
    event = stream_event(2)
    event["Records"][0]["eventName"] = "TRUNCATE"
    dispatcher = StreamDispatcher(store=MemoryStore())
    modified: list[str] = []
    dispatcher.on_modify.append(lambda record: modified.append(record.sequence_number))

    with caplog.at_level(logging.WARNING, logger="idemlock"):
        assert dispatcher.dispatch(copy.deepcopy(event)) == {"batchItemFailures": []}
    assert "no handler for stream event 'TRUNCATE'" in caplog.text
    assert modified == ["101"]

    unknown: list[str] = []
    other = StreamDispatcher(store=MemoryStore(), namespace="other")
    other.on_unknown.append(lambda record: unknown.append(record.event_name))
    other.dispatch(copy.deepcopy(event))
    assert unknown == ["TRUNCATE"]


def test_handler_lists_refuse_non_callables() -> None:
    """Decorating with a handler list checks that the handler is callable."""
    with pytest.raises(ConfigurationError, match="callable"):
        StreamDispatcher(store=MemoryStore()).on_insert("not a function")  # type: ignore[arg-type]


def test_a_failure_stops_at_its_sequence_number_and_redelivery_finishes(
    dynamodb_local: str,
) -> None:
    """On DynamoDB Local: a handler fails on record 2; the response names its sequence number,
    records after it do not run; the redelivered batch runs records 2.. once, 0 and 1 not again."""
    store = fresh_table(dynamodb_local)
    dispatcher = StreamDispatcher(store=store, namespace="audit")
    audit: list[str] = []
    broken = {"102"}

    @dispatcher.on_modify
    def write_audit(record: StreamRecord) -> None:
        if record.sequence_number in broken:
            raise RuntimeError("audit table throttled")
        audit.append(record.sequence_number)

    event = stream_event(5)
    assert dispatcher.dispatch(event, LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": "102"}]
    }
    assert audit == ["100", "101"]

    broken.clear()
    assert dispatcher.dispatch(event, LambdaContext()) == {"batchItemFailures": []}
    assert audit == ["100", "101", "102", "103", "104"]
