"""The source key functions as key_fn of @idempotent on single events, end to end."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from idemlock import idempotent
from idemlock.errors import EventError
from idemlock.keys import jmespath_key
from idemlock.sources import eventbridge, s3
from idemlock.testing import LambdaContext, MemoryStore
from tests.batch_events import s3_event
from tests.sources_helpers import load_event


def test_s3_object_key_skips_a_reupload_and_object_version_runs_a_changed_file() -> None:
    """By name, a re-upload (new eTag) is skipped; by version, the changed file runs again."""
    store = MemoryStore()
    by_name: list[str] = []
    by_version: list[str] = []
    name_handler = idempotent(s3.object_key, store=store, namespace="name")(
        lambda event, context: by_name.append(event["Records"][0]["s3"]["object"]["eTag"])
    )
    version_handler = idempotent(s3.object_version, store=store, namespace="version")(
        lambda event, context: by_version.append(event["Records"][0]["s3"]["object"]["eTag"])
    )
    upload = s3_event("data/a+b.csv")
    reupload = copy.deepcopy(upload)
    reupload["Records"][0]["s3"]["object"]["eTag"] = "changed"

    for event in (upload, upload, reupload):
        name_handler(event, LambdaContext())
        version_handler(event, LambdaContext())

    assert by_name == ["etag-0"]
    assert by_version == ["etag-0", "changed"]
    assert {r.key for r in store.scan(prefix="name#")} == {"name#uploads/data/a b.csv"}


def test_a_double_fired_schedule_runs_once() -> None:
    """Two deliveries of one scheduled time (different ids) run the job once."""
    store = MemoryStore()
    runs: list[str] = []
    job = idempotent(eventbridge.scheduled_run, store=store)(
        lambda event, context: runs.append(event["id"])
    )
    first = load_event("eventbridge-scheduled.json")
    second = {**first, "id": "another-delivery-id"}

    job(first, LambdaContext())
    job(second, LambdaContext())
    assert runs == [first["id"]]


def test_a_malformed_event_is_an_event_error_and_claims_nothing() -> None:
    """A key function on the wrong event shape raises EventError before any store call."""
    store = MemoryStore()
    handler = idempotent(s3.object_key, store=store)(lambda event, context: None)

    with pytest.raises(EventError) as caught:
        handler(load_event("sqs.json"), None)
    assert caught.value.path.startswith("Records")
    assert store.calls.total() == 0


def test_jmespath_keys_work_as_key_functions() -> None:
    """jmespath_key("detail.orderId") keys an event by that field."""
    store = MemoryStore()
    runs: list[Any] = []
    handler = idempotent(jmespath_key("detail.orderId"), store=store, namespace="j")(
        lambda event, context: runs.append(event["detail"]["orderId"])
    )
    handler({"detail": {"orderId": "o-1"}}, None)
    handler({"detail": {"orderId": "o-1"}}, None)
    with pytest.raises(EventError):
        handler({"detail": {}}, None)
    assert runs == ["o-1"]
