"""S3 Batch Operations: the invocation event, its tasks, their keys and the response S3 expects.

An S3 Batch Operations job that invokes a Lambda function sends ``tasks`` (one per object of its
manifest) under ``invocationSchemaVersion`` ``1.0`` (bucket ARN) or ``2.0`` (bucket name, and
the job's ``userArguments``), and expects a result per task. The result codes:

- ``Succeeded``: the body returned, now or before (a duplicate); ``resultString`` is the result
  (a string as is, anything else as JSON, ``None`` as ``""``).
- ``TemporaryFailure``: the body raised, or another invocation holds the task: S3 retries it.
- ``PermanentFailure``: the task can never succeed as it is, so S3 must not retry it: it has no
  key (a task without ``taskId``, ``s3Key`` or bucket: :class:`~idemlock.errors.MissingKeyError`,
  :class:`~idemlock.errors.EventError`), its result can never be stored
  (:class:`~idemlock.errors.UnstorableResultError`), or the body raised :class:`PermanentFailure`
  (the object is gone, its content can never be read).

The default key is the job's ID and the task's: a task S3 sends twice runs once, and a new job
over the same objects runs them again (that is what a new job is for). Key tasks by
:func:`idemlock.sources.s3.object_version` to skip objects any job already processed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from idemlock.errors import EventError, MissingKeyError, UnstorableResultError
from idemlock.sources import _event

SOURCE = "s3-batch-operations"
"""What :class:`~idemlock.errors.EventError` reports as the source of a malformed invocation."""

SUCCEEDED = "Succeeded"
TEMPORARY_FAILURE = "TemporaryFailure"
PERMANENT_FAILURE = "PermanentFailure"

_TASKS = "tasks"


class PermanentFailure(Exception):
    """Raised by a task's body: the task can never succeed, S3 must not retry it.

    The message becomes the task's ``resultString``.
    """


class TaskResult(NamedTuple):
    """How one task ended, as the response needs it."""

    task: Mapping[str, Any]
    result: Any
    """What the body returned (now, or stored by an earlier run)."""
    error: BaseException | None
    """``None`` when the task succeeded."""


def is_invocation(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is an S3 Batch Operations invocation."""
    return "invocationSchemaVersion" in event and _TASKS in event


def check_invocation(event: Mapping[str, Any]) -> None:
    """:class:`~idemlock.errors.EventError` unless ``event`` carries what its response echoes.

    Checked before any task is claimed: an ``invocationId`` or ``invocationSchemaVersion`` found
    malformed only when the response is built would fail the invocation after its tasks ran and
    completed, and again on every retry.
    """
    checked = _event.as_mapping(event, source=SOURCE)
    for path in ("invocationSchemaVersion", "invocationId", "job.id"):
        _event.text(checked, path, source=SOURCE)


def tasks(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The tasks of an invocation, as delivered."""
    checked = _event.as_mapping(event, source=SOURCE)
    items = _event.optional_field(checked, _TASKS, source=SOURCE)
    if not _event.is_list(items) or not items:
        raise EventError(
            f"{_TASKS!r} must be a non-empty list, got {items!r:.60}", path=_TASKS, source=SOURCE
        )
    return [
        _event.as_mapping(task, path=f"{_TASKS}[{index}]", source=SOURCE)
        for index, task in enumerate(items)
    ]


def task_key_in(event: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], str]:
    """The default key function of the tasks of ``event``: ``jobId/taskId``."""
    job = _event.text(_event.as_mapping(event, source=SOURCE), "job.id", source=SOURCE)

    def key(task: Mapping[str, Any]) -> str:
        return f"{job}/{task_id(task)}"

    return key


def task_id(task: Mapping[str, Any]) -> str:
    """The task's ``taskId``, which the response must name."""
    return _event.text(_event.as_mapping(task, source=SOURCE), "taskId", source=SOURCE)


def response(event: Mapping[str, Any], results: Sequence[TaskResult]) -> dict[str, Any]:
    """The response S3 expects: one result per task, in task order."""
    checked = _event.as_mapping(event, source=SOURCE)
    return {
        "invocationSchemaVersion": _event.text(checked, "invocationSchemaVersion", source=SOURCE),
        # Every task gets a result; one left out would be a bug, which must not pass silently.
        "treatMissingKeysAs": PERMANENT_FAILURE,
        "invocationId": _event.text(checked, "invocationId", source=SOURCE),
        "results": [_result(each) for each in results],
    }


def result_code(error: BaseException | None) -> str:
    """``Succeeded``, ``TemporaryFailure`` or ``PermanentFailure`` for how a task ended."""
    if error is None:
        return SUCCEEDED
    if isinstance(error, (PermanentFailure, MissingKeyError, UnstorableResultError)):
        return PERMANENT_FAILURE
    return TEMPORARY_FAILURE


def _result(each: TaskResult) -> dict[str, str]:
    """One entry of ``results``."""
    try:
        identifier = task_id(each.task)
    except EventError:
        identifier = ""  # a task without an id cannot be named; S3 treats it as missing
    return {
        "taskId": identifier,
        "resultCode": result_code(each.error),
        "resultString": _result_string(each),
    }


def _result_string(each: TaskResult) -> str:
    """The result, or the error, as the text S3 puts in the job's completion report."""
    if each.error is not None:
        return f"{type(each.error).__name__}: {each.error}"
    if each.result is None:
        return ""
    if isinstance(each.result, str):
        return each.result
    return json.dumps(each.result, separators=(",", ":"), default=str)
