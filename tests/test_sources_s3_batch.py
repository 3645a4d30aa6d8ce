"""Unit tests for :mod:`idemlock.sources.s3_batch`: tasks, keys, result codes, the response."""

from __future__ import annotations

import pytest

from idemlock.errors import EventError, InProgressError, UnstorableResultError
from idemlock.sources import s3, s3_batch
from idemlock.sources.batches import source_of_event
from tests.delivered_events import batch_operations_event


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_tasks_and_default_key(version: str) -> None:
    """tasks() returns the tasks as delivered; the default key is jobId/taskId."""
    event = batch_operations_event(version)
    [task] = s3_batch.tasks(event)
    assert task is event["tasks"][0]
    source = source_of_event(event)
    assert source.name == "s3-batch"
    assert source.record_key(task) == f"{event['job']['id']}/{task['taskId']}"


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_s3_keys_read_a_task_of_either_schema(version: str) -> None:
    """Bucket from s3BucketArn (1.0) or s3Bucket (2.0); the key URL-decoded."""
    task = batch_operations_event(version, keys=("a+b%2Bc.jpg",))["tasks"][0]
    assert s3.object_key(task) == "user-uploads/a b+c.jpg"
    assert s3.S3Object.from_record(task).version_id == ("1" if version == "1.0" else None)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (None, "Succeeded"),
        (RuntimeError("x"), "TemporaryFailure"),
        (InProgressError("k", 0), "TemporaryFailure"),
        (s3_batch.PermanentFailure("gone"), "PermanentFailure"),
        (EventError("bad", path="s3Key"), "PermanentFailure"),
        (UnstorableResultError("k", "too large"), "PermanentFailure"),
    ],
)
def test_result_codes(error: BaseException | None, code: str) -> None:
    """What can succeed on a retry is temporary; a task without a key, or whose result can never
    be stored, or whose body says so, is permanent."""
    assert s3_batch.result_code(error) == code


@pytest.mark.parametrize(
    ("result", "text"),
    [("done", "done"), (None, ""), ({"a": 1}, '{"a":1}'), (0, "0")],
)
def test_result_strings(result: object, text: str) -> None:
    """A string as is, None as empty, anything else as compact JSON."""
    event = batch_operations_event()
    response = s3_batch.response(event, [s3_batch.TaskResult(event["tasks"][0], result, None)])
    assert response["results"][0]["resultString"] == text
