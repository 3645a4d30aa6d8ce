"""Every error idemlock raises, under one root.

::

    IdemlockError                  catch-all for anything idemlock raises
    ├── ConfigurationError         an option or the environment is wrong (raised before any call)
    │   └── AWSSetupError          no AWS region or credentials, or no such profile (.setting)
    ├── InvalidKeyError            key_fn returned something that cannot be a key
    │   └── MissingKeyError        key_fn returned None or "", or the event lacked the field
    │       └── EventError         the event is malformed (.path names what is missing)
    ├── FingerprintError           the payload lacked a field, or the fingerprint is not JSON
    ├── InProgressError            another invocation holds the key (.key, .lease_expires_at)
    ├── OutcomeUnknownError        a lapsed claim's outcome is unknown (on_lease_expired="refuse")
    ├── StepError                  idemlock.step() outside a body, or a step name used twice
    ├── PayloadMismatchError       same key, different payload fingerprint (.key)
    ├── LockLostError              our lease expired and another invocation took the key over
    ├── HeartbeatError             the heartbeat could not start; the key was released
    ├── UnstorableResultError      the body ran; its result has no stored form or is too large
    │   ├── UnstorableValueError   a value in it has no stored form (.path, .type_name)
    │   └── ResultNotStoredError   a duplicate of such a key: the body ran, nothing to replay
    ├── UnreadableResultError      a stored result cannot be read back (.key, .reason)
    ├── BatchFailedError           records of an S3 batch failed (.outcome); Lambda retries it
    └── StoreError                 the lock table could not be read or written (.key, .operation)
        ├── TableNotFoundError     the table does not exist (.table); says how to create it
        ├── TableMismatchError     the table exists with another key schema (.table)
        └── AccessDeniedError      IAM refused a call (.actions lists what the role needs)

The body's own exceptions are never wrapped: idemlock releases the key and re-raises them
unchanged. Errors from botocore are chained (``raise ... from exc``) so the original is one
``__cause__`` away.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from idemlock.item import utc_text


class IdemlockError(Exception):
    """Root of every error idemlock raises."""


class ConfigurationError(IdemlockError):
    """An option passed to idemlock, or an environment variable it reads, is invalid."""


class AWSSetupError(ConfigurationError):
    """botocore found no region or no credentials, or the profile named does not exist.

    Raised before any request is sent. :attr:`setting` is ``"region"``, ``"credentials"`` or
    ``"profile"``; :attr:`problem` says what is missing, and the message adds how to give it.
    """

    def __init__(self, setting: str, problem: str, fix: str) -> None:
        super().__init__(f"{problem}; {fix}")
        self.setting = setting
        self.problem = problem


class InvalidKeyError(IdemlockError):
    """The key function returned a value that cannot be used as an idempotency key."""

    def __init__(self, message: str, *, function: str | None = None) -> None:
        super().__init__(message)
        self.function = function


class MissingKeyError(InvalidKeyError):
    """The key function found no key: it returned None or "", or the field was missing.

    Raised before anything is claimed, so the event is not lost: the caller sees the error and
    the delivery can be retried or sent to a dead-letter queue.
    """


class EventError(MissingKeyError):
    """An event or record does not have the shape its source promises.

    ``path`` names what was missing or wrong, e.g. ``Records[0].s3.object.key``. A subclass of
    :class:`MissingKeyError`: a malformed event has no key, and ``on_missing_key`` applies.
    """

    def __init__(self, message: str, *, path: str, source: str | None = None) -> None:
        super().__init__(f"{message} (at {path})" if path else message)
        self.path = path
        self.source = source


class FingerprintError(IdemlockError):
    """The fingerprint function found no field (a lookup failed) or returned a non-JSON value.

    Other exceptions it raises propagate unchanged, as for ``key_fn``.
    """


class InProgressError(IdemlockError):
    """Another invocation holds the key and its lease has not expired yet.

    The body did not run. Retrying after :attr:`lease_expires_at` succeeds if the holder crashed,
    or returns the stored result if it completed.
    """

    def __init__(self, key: str, lease_expires_at_ms: int) -> None:
        self.key = key
        self.lease_expires_at_ms = lease_expires_at_ms
        super().__init__(
            f"key {key!r} is being processed by another invocation; "
            f"its lease expires at {utc_text(lease_expires_at_ms)}"
        )

    @property
    def lease_expires_at(self) -> datetime:
        """When the holder's lease ends, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.lease_expires_at_ms / 1000, tz=timezone.utc)


class OutcomeUnknownError(IdemlockError):
    """An invocation's lease ran out before it completed: whether its work was done is unknown.

    Raised instead of running the body again under ``on_lease_expired="refuse"``; the key is
    marked (its item's ``outcome_unknown_at_ms``) and refuses every claim until an operator
    decides: ``idemlock release KEY`` runs it again on the next delivery, ``idemlock resolve
    KEY --completed [--result JSON]`` treats it as done. :attr:`key` is the stored key;
    :attr:`fence` the lapsed claim's fencing token (to look up what it wrote downstream).
    """

    def __init__(self, key: str, fence: int) -> None:
        self.key = key
        self.fence = fence
        super().__init__(
            f"key {key!r}: an earlier invocation (fence {fence}) ran out of lease before it "
            "completed, so whether its work was done is unknown; it was not run again. "
            f"Decide with `idemlock release {key}` (run it again) or "
            f"`idemlock resolve {key} --completed` (treat it as done)"
        )


class StepError(IdemlockError):
    """``idemlock.step()`` was misused.

    Called outside an idempotent body, with a name already used in this run, or (``step``, not
    ``step_async``) with a function returning an awaitable.
    """


class PayloadMismatchError(IdemlockError):
    """The key was seen before with a different payload fingerprint."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"key {key!r} was already used with a different payload; "
            "the same idempotency key must always carry the same payload"
        )


class LockLostError(IdemlockError):
    """Our lease expired and another invocation took the key over.

    Our complete or release was refused so that the new owner's item stays intact. The body
    has run, possibly concurrently with the new owner's: use the fencing token
    (:attr:`idemlock.Lock.fence`) to make downstream writes safe against this.
    """

    def __init__(self, key: str, owner: str) -> None:
        self.key = key
        self.owner = owner
        super().__init__(
            f"lost the lock on key {key!r}: our lease (owner {owner}) expired and the key was "
            "taken over or removed; the newer owner's item was left untouched"
        )


class HeartbeatError(IdemlockError):
    """``heartbeat=`` could not start its thread (the process is at its thread limit).

    The body did not run and its key was released: the call can be retried as it is.
    """


class UnstorableResultError(IdemlockError):
    """The body ran, but its result cannot be stored (no stored form, or too large).

    The body is never run twice for it: the key is completed without its result, the reason
    recorded in the item, and a duplicate gets :class:`ResultNotStoredError` (or ``None`` under
    ``on_unstorable_result="omit"``, which also returns the result to this caller instead).
    """

    def __init__(self, key: str, reason: str, *, step: str | None = None) -> None:
        self.key = key
        self.reason = reason
        self.step = step
        """The recovery point (``idemlock.step``) whose result it was; ``None``: the body's."""
        super().__init__(self._message(key, reason, step))

    @staticmethod
    def _message(key: str, reason: str, step: str | None) -> str:
        if step is None:
            ran = f"the body for key {key!r} ran"
            kept = "the key is completed without it, so a duplicate does not run the body again"
        else:
            ran = f"step {step!r} of key {key!r} ran"
            kept = "the step is recorded as ran without it, so no later run of the key runs it"
        return (
            f"{ran}, but its result cannot be stored: {reason}; {kept}. Return a JSON value, or "
            'one of the types idemlock stores (docs/concepts.md, "Stored results"), of at most '
            '396 KiB as stored, or pass on_unstorable_result="omit"'
        )


class UnstorableValueError(UnstorableResultError):
    """A value inside the result has no stored form (a ``complex``, a lock, a circular list).

    :attr:`path` says where it sits (``result['lines'][2].price``), :attr:`type_name` what it is.
    """

    def __init__(self, key: str, *, path: str, type_name: str, why: str) -> None:
        self.path = path
        self.type_name = type_name
        super().__init__(key, f"{path} ({type_name}) {why}")


class ResultNotStoredError(UnstorableResultError):
    """A duplicate of a key whose body (or step) ran but whose result could not be stored.

    The body does not run again; :attr:`reason` is why the result was not stored, as recorded
    in the item. Under ``on_unstorable_result="omit"`` a duplicate gets ``None`` instead.
    """

    @staticmethod
    def _message(key: str, reason: str, step: str | None) -> str:
        if step is not None:
            return (
                f"step {step!r} of key {key!r} ran before, but its result could not be stored "
                f"({reason}): the step is not run again, and there is no result to replay"
            )
        return (
            f"key {key!r} completed before, but its result could not be stored ({reason}): "
            "the body ran and is not run again, and there is no result to replay"
        )


class UnreadableResultError(IdemlockError):
    """A stored result cannot be read back.

    It is not JSON, holds a tag this version does not know, or its fields no longer make the
    class the function returns.

    The body ran and the key stays completed, so nothing runs twice; removing the item (the
    ``idemlock`` CLI's ``release --force``) lets the next delivery run the body again.
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(
            f"the stored result for key {key!r} cannot be read: {reason}; the body ran and the "
            f"key stays completed: `idemlock release {key} --force` removes the item, and the "
            "next delivery runs the body again"
        )


class BatchFailedError(IdemlockError):
    """Records of a batch without partial responses (S3) failed; ``.outcome`` has the details.

    Raised after every record was tried, so that Lambda retries the event: records that
    completed are skipped on the retry. ``outcome`` is the :class:`idemlock.batch.BatchOutcome`
    (typed ``Any`` here: this module is the floor every other imports, batch included).
    """

    def __init__(self, message: str, outcome: Any) -> None:
        super().__init__(message)
        self.outcome = outcome


class StoreError(IdemlockError):
    """The lock store failed; the botocore error is the ``__cause__``."""

    def __init__(self, message: str, *, operation: str, key: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.key = key


class TableNotFoundError(StoreError):
    """The lock table does not exist in this account, region and endpoint."""

    def __init__(self, table: str, *, operation: str, key: str | None = None) -> None:
        self.table = table
        super().__init__(
            f"DynamoDB table {table!r} does not exist (check the region and endpoint); create it "
            f"with `idemlock create-table {table}` or DynamoDBStore({table!r}).create_table()",
            operation=operation,
            key=key,
        )


class TableMismatchError(StoreError):
    """The table exists but its key schema does not fit the store's attribute names."""

    def __init__(
        self,
        table: str,
        problem: str,
        *,
        operation: str = "create_table",
        key: str | None = None,
    ) -> None:
        self.table = table
        super().__init__(
            f"DynamoDB table {table!r} does not fit this store: {problem}",
            operation=operation,
            key=key,
        )


class AccessDeniedError(StoreError):
    """IAM refused a call; :attr:`actions` lists the DynamoDB actions the role needs."""

    def __init__(
        self, table: str, actions: tuple[str, ...], *, operation: str, key: str | None = None
    ) -> None:
        self.table = table
        self.actions = actions
        super().__init__(
            f"access denied calling {operation} on DynamoDB table {table!r}; the role needs "
            f"{', '.join(actions)} on that table",
            operation=operation,
            key=key,
        )
