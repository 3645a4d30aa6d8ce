"""DynamoDBStore: the lock protocol as DynamoDB conditional writes.

Every write is a single conditional request, and a claim that fails its condition brings the
item that stopped it back in the same response (``ReturnValuesOnConditionCheckFailure=ALL_OLD``).
Backends that ignore that parameter (dynalite, older DynamoDB Local) answer without the item; the
store notices and reads it with one consistent GetItem instead — detected per response, never
configured.

botocore is imported when the first client is made, not at import time, to keep cold starts short.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

from idemlock._partiql import (
    BATCH_LIMIT,
    COMPLETE_CLEARS,
    READ_LIMIT,
    RETRIED_CODES,
    RETRY_PAUSES_S,
    STATEMENT_CODES,
    Statements,
)
from idemlock.errors import (
    AccessDeniedError,
    AWSSetupError,
    ConfigurationError,
    StoreError,
    TableMismatchError,
    TableNotFoundError,
    UnreadableResultError,
)
from idemlock.item import LockItem, LockStatus
from idemlock.store import Claim, ClaimResult, CompleteRequest, ReleaseRequest

if TYPE_CHECKING:
    import botocore.session
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger("idemlock")

TABLE_ENV: Final = "IDEMLOCK_TABLE"
"""The environment variable naming the lock table when no store is passed."""

ITEM_LIMIT_BYTES: Final = 400 * 1024
"""DynamoDB's item size limit."""

RESULT_LIMIT_BYTES: Final = ITEM_LIMIT_BYTES - 4 * 1024
"""The largest stored result: the item limit less room for the key and the other attributes."""

COMPRESS_ABOVE_BYTES: Final = 1024
"""A result's JSON longer than this is stored zlib-compressed, as a binary (``B``) attribute.

DynamoDB bills a write by the item's size in 1 KB units, a complete and every duplicate's failed
claim alike: JSON usually shrinks several times, so from one unit up compression pays. Below it
the item is one unit whatever its size. A string (``S``) result is read as it always was, so
items written before stay readable; a binary one is decompressed on every read (duplicates, the
CLI's ``show``)."""

RUNTIME_ACTIONS: Final = ("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem")
"""The IAM actions ``@idempotent`` uses on the lock table: a least-privilege policy needs these
(a batch too, besides :data:`BATCH_ACTIONS`: for a key found free it claims with UpdateItem)."""

SETUP_ACTIONS: Final = (
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:DescribeTimeToLive",
)
"""The IAM actions :meth:`DynamoDBStore.create_table` uses."""

BATCH_ACTIONS: Final = (
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:BatchGetItem",
)
"""The IAM actions a batch (``@idempotent_records``, ``StreamDispatcher``) sends its writes in:
without them, the store logs a warning once and sends one request per record, with
:data:`RUNTIME_ACTIONS`. ``BatchExecuteStatement`` is no IAM action of its own: each statement
is authorised by its PartiQL action.

Each of these, like each of :data:`RUNTIME_ACTIONS`, lists ``dynamodb:LeadingKeys`` among its
condition keys (Service Authorization Reference, "Actions, resources, and condition keys for
Amazon DynamoDB", https://docs.aws.amazon.com/service-authorization/latest/reference/
list_amazondynamodb.html), so a policy held to some namespaces holds batches to them too."""

_DENIED: Final = (
    f"the IAM policy does not allow {', '.join(BATCH_ACTIONS)} (PartiQL) on the lock table: "
    "batches of records send one request per record from now on. To send 25 records to a "
    "request, allow them: `idemlock template` writes a policy that does, and `idemlock doctor` "
    "checks what this role may do"
)
"""The warning of a store whose batch writes were denied: what happened, and the fix."""

_NO_PARTIQL: Final = (
    "the DynamoDB endpoint has no BatchExecuteStatement (PartiQL; dynalite has none): batches "
    "of records send one request per record from now on (`idemlock doctor` checks an endpoint)"
)
"""The warning of a store whose backend has no batch writes."""

OPERATOR_ACTIONS: Final = ("dynamodb:Scan",)
"""The IAM actions that listing the table (``DynamoDBStore.scan``) uses."""

_ACTIONS_BY_OPERATION: Final[Mapping[str, tuple[str, ...]]] = {
    "create_table": SETUP_ACTIONS,
    "describe_table": SETUP_ACTIONS,
    "update_time_to_live": SETUP_ACTIONS,
    "describe_time_to_live": SETUP_ACTIONS,
    "scan": (*OPERATOR_ACTIONS, *RUNTIME_ACTIONS),
    "batch_execute_statement": BATCH_ACTIONS,
    "batch_get_item": BATCH_ACTIONS,
}

_ACCESS_DENIED_CODES: Final = frozenset({"AccessDeniedException", "AccessDenied"})


DEFAULT_SORT_KEY_VALUE: Final = "idemlock"
"""The sort key value of idemlock's items in a table with a sort key (``sort_key_value=``)."""


class _Fields(NamedTuple):
    key: str = "id"
    status: str = "status"
    owner: str = "owner"
    fence: str = "fence"
    attempts: str = "attempts"
    claimed_at_ms: str = "claimed_at_ms"
    lease_expires_at_ms: str = "lease_expires_at_ms"
    expires_at_s: str = "expires_at_s"
    completed_at_ms: str = "completed_at_ms"
    result: str = "result"
    fingerprint: str = "fingerprint"
    outcome_unknown_at_ms: str = "outcome_unknown_at_ms"
    steps: str = "steps"
    released_at_ms: str = "released_at_ms"
    sort_key: str | None = None


class AttributeNames(_Fields):
    """The table's attribute names: non-empty and distinct, checked when made.

    Any name works, reserved words included: every expression refers to them through
    ``ExpressionAttributeNames``. The partition key is a string. ``sort_key`` names the table's
    sort key (a string) when it has one, as a single-table design does: idemlock's items then
    hold the store's ``sort_key_value`` there. Read-only.
    """

    __slots__ = ()

    def __new__(  # noqa: PLR0917  (positional too, as a named tuple takes them)
        cls,
        key: str = "id",
        status: str = "status",
        owner: str = "owner",
        fence: str = "fence",
        attempts: str = "attempts",
        claimed_at_ms: str = "claimed_at_ms",
        lease_expires_at_ms: str = "lease_expires_at_ms",
        expires_at_s: str = "expires_at_s",
        completed_at_ms: str = "completed_at_ms",
        result: str = "result",
        fingerprint: str = "fingerprint",
        outcome_unknown_at_ms: str = "outcome_unknown_at_ms",
        steps: str = "steps",
        released_at_ms: str = "released_at_ms",
        sort_key: str | None = None,
    ) -> AttributeNames:
        """The names, by field; :class:`ConfigurationError` if one is empty or two are equal."""
        names = super().__new__(
            cls,
            key,
            status,
            owner,
            fence,
            attempts,
            claimed_at_ms,
            lease_expires_at_ms,
            expires_at_s,
            completed_at_ms,
            result,
            fingerprint,
            outcome_unknown_at_ms,
            steps,
            released_at_ms,
            sort_key,
        )
        given = tuple(names) if sort_key is not None else tuple(names)[:-1]
        if any(not isinstance(name, str) or not name for name in given):
            raise ConfigurationError("attribute names must be non-empty strings")
        if len(set(given)) != len(given):
            raise ConfigurationError(f"attribute names must be distinct, got {given}")
        return names

    def placeholders(self) -> dict[str, str]:
        """``#field`` → configured name, for ``ExpressionAttributeNames``."""
        return {
            f"#{field}": name
            for field, name in zip(self._fields, self, strict=True)
            if name is not None
        }

    def key_schema(self) -> list[dict[str, str]]:
        """The table's ``KeySchema`` for these names: the key, and the sort key if any."""
        schema = [{"AttributeName": self.key, "KeyType": "HASH"}]
        if self.sort_key is not None:
            schema.append({"AttributeName": self.sort_key, "KeyType": "RANGE"})
        return schema

    def key_definitions(self) -> list[dict[str, str]]:
        """The table's ``AttributeDefinitions`` for these names: every key a string."""
        return [
            {"AttributeName": part["AttributeName"], "AttributeType": "S"}
            for part in self.key_schema()
        ]


# The expressions of the protocol's writes. They are constant strings (what varies goes in the
# values), so their ExpressionAttributeNames are worked out once per store and reused.
# ADD counts the attempts from zero when the item (or the attribute) is new: one value fewer
# than if_not_exists(#attempts, :zero) + :one.
_CLAIM_SET = (
    "SET #status = :in_progress, #owner = :owner,"
    " #fence = if_not_exists(#fence, :fence_base) + :one,"
    " #claimed_at_ms = :now_ms, #lease_expires_at_ms = :lease, #expires_at_s = :expires"
)
_CLAIM_UPDATE: Final = (
    f"{_CLAIM_SET} REMOVE #result, #completed_at_ms, #fingerprint, #released_at_ms"
    " ADD #attempts :one"
)
_CLAIM_UPDATE_WITH_FINGERPRINT: Final = (
    f"{_CLAIM_SET}, #fingerprint = :fingerprint"
    " REMOVE #result, #completed_at_ms, #released_at_ms ADD #attempts :one"
)
_CLAIM_CONDITION: Final = (
    "attribute_not_exists(#key)"
    " OR (#status = :in_progress AND #lease_expires_at_ms < :now_ms"
    " AND attribute_not_exists(#outcome_unknown_at_ms))"
    " OR (#status = :completed AND #expires_at_s <= :now_s)"
)
_CLAIM_CONDITION_WITHOUT_TAKEOVER: Final = (
    "attribute_not_exists(#key) OR attribute_exists(#released_at_ms)"
    " OR (#status = :completed AND #expires_at_s <= :now_s)"
)
_OWNER_CONDITION: Final = "#owner = :owner"
_EXTEND_UPDATE: Final = "SET #lease_expires_at_ms = :lease, #expires_at_s = :expires"
_EXTEND_CONDITION: Final = (
    "#owner = :owner AND #status = :in_progress AND #lease_expires_at_ms < :lease"
)
_MARK_UNKNOWN_UPDATE: Final = "SET #outcome_unknown_at_ms = :now_ms"
_MARK_UNKNOWN_CONDITION: Final = (
    "#owner = :owner AND #status = :in_progress AND #lease_expires_at_ms < :now_ms"
    " AND attribute_not_exists(#outcome_unknown_at_ms) AND attribute_not_exists(#released_at_ms)"
)
_RECORD_STEPS_UPDATE: Final = "SET #steps = :steps"
_RECORD_STEPS_CONDITION: Final = "#owner = :owner AND #fence = :fence AND #status = :in_progress"
_OWNER_IN_PROGRESS_CONDITION: Final = "#owner = :owner AND #status = :in_progress"
_FREE_UPDATE: Final = (
    # A marked owner that turns out alive and fails settles the unknown outcome itself.
    "SET #released_at_ms = :now_ms, #lease_expires_at_ms = :zero REMOVE #outcome_unknown_at_ms"
)


def _complete_update(has_result: bool, expires: bool, *, new_owner: bool = False) -> str:
    assignments = ["#status = :completed", "#completed_at_ms = :now_ms"]
    if new_owner:
        assignments.append("#owner = :operator")
    # A marked owner that turns out alive and completes settles the unknown outcome itself.
    removals = [f"#{field}" for field in COMPLETE_CLEARS]
    if has_result:
        assignments.append("#result = :result")
    else:
        removals.append("#result")
    if expires:
        assignments.append("#expires_at_s = :expires")
    else:
        removals.append("#expires_at_s")
    return f"SET {', '.join(assignments)} REMOVE {', '.join(removals)}"


_COMPLETE_UPDATES: Final = {
    (has_result, expires): _complete_update(has_result, expires)
    for has_result in (False, True)
    for expires in (False, True)
}
"""The complete's update, by whether it stores a result and whether retention ends."""

_RESOLVE_UPDATES: Final = {
    (has_result, expires): _complete_update(has_result, expires, new_owner=True)
    for has_result in (False, True)
    for expires in (False, True)
}
"""An operator's complete: the complete's update that also makes the operator the owner."""

_IN_PROGRESS: Final = {"S": LockStatus.IN_PROGRESS.value}
_COMPLETED: Final = {"S": LockStatus.COMPLETED.value}
_ONE: Final = {"N": "1"}
_STATUSES: Final = {status.value: status for status in LockStatus}


def _complete_values(
    owner: str, now_ms: int, result: str | None, expires_at_s: int | None
) -> dict[str, Any]:
    """The ``ExpressionAttributeValues`` of a complete by ``owner``."""
    values: dict[str, Any] = {
        ":completed": _COMPLETED,
        ":owner": {"S": owner},
        ":now_ms": {"N": str(now_ms)},
    }
    if result is not None:
        values[":result"] = _result_value(result)
    if expires_at_s is not None:
        values[":expires"] = {"N": str(expires_at_s)}
    return values


def _claim_values(claim: Claim) -> dict[str, Any]:
    """The ``ExpressionAttributeValues`` of a claim."""
    values: dict[str, Any] = {
        ":in_progress": _IN_PROGRESS,
        ":completed": _COMPLETED,
        ":owner": {"S": claim.owner},
        ":now_ms": {"N": str(claim.now_ms)},
        ":now_s": {"N": str(claim.now_ms // 1000)},
        ":fence_base": {"N": str(claim.fence_base)},
        ":lease": {"N": str(claim.lease_expires_at_ms)},
        ":expires": {"N": str(claim.expires_at_s)},
        ":one": _ONE,
    }
    if claim.fingerprint is not None:
        values[":fingerprint"] = {"S": claim.fingerprint}
    return values


def _held_lease(item: LockItem | None, owner: str) -> int | None:
    """The lease ``owner`` holds on ``item`` in progress; ``None`` if it holds none."""
    if item is None or item.owner != owner or item.status is not LockStatus.IN_PROGRESS:
        return None
    return item.lease_expires_at_ms


class _NoBatches(Exception):
    """Private signal: the backend (or the caller's IAM policy) has no BatchExecuteStatement."""


class _ConditionFailed(Exception):
    """Private signal: a conditional write failed; ``item`` is the old item when returned."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


class DynamoDBStore:
    """Lock records in a DynamoDB table whose partition key is a string attribute.

    ``client`` is any botocore DynamoDB client; without one, a client is made on first use with
    standard retries and short timeouts, honouring ``endpoint_url``, ``region_name``,
    ``profile_name`` and the usual AWS environment (``AWS_ENDPOINT_URL_DYNAMODB`` included).

    A table with a sort key (a single-table design, holding the application's items too) needs
    ``attributes=AttributeNames(key=..., sort_key=...)``: idemlock's items hold
    ``sort_key_value`` (default ``"idemlock"``) in the sort key, so every read, write and scan
    addresses idemlock's items only. A table whose key schema does not fit the attribute names
    is refused on the first call with :class:`TableMismatchError`, naming the option to pass.
    """

    max_result_bytes: Final = RESULT_LIMIT_BYTES
    """The largest result an item can hold, as stored (compressed when that pays)."""

    @staticmethod
    def stored_result_bytes(result: str) -> int:
        """How many bytes ``result`` takes in the item: its JSON, or compressed JSON."""
        value = _result_value(result)
        return len(value["B"]) if "B" in value else len(result.encode("utf-8"))

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        profile_name: str | None = None,
        config: Config | None = None,
        attributes: AttributeNames | None = None,
        sort_key_value: str | None = None,
    ) -> None:
        if not isinstance(table_name, str) or not table_name:
            raise ConfigurationError("DynamoDBStore needs a table name")
        self.table_name = table_name
        self.attributes = attributes or AttributeNames()
        self.sort_key_value = _sort_key_value(self.attributes, sort_key_value)
        """What idemlock's items hold in the sort key; ``None`` for a table without one."""
        self._client = client
        self._client_options = (endpoint_url, region_name, profile_name, config)
        self._client_lock = threading.Lock()
        self._key_name = self.attributes.key
        self._sort_key: dict[str, Any] = (
            {}
            if self.sort_key_value is None
            else {str(self.attributes.sort_key): {"S": self.sort_key_value}}
        )
        self._requests: dict[tuple[str | None, str, str | None], dict[str, Any]] = {}
        self._statements = Statements(table_name, self.attributes, self.sort_key_value)
        self.writes_in_batches = True
        """Whether batches are sent as such: ``False`` once the backend refused one."""

    def __repr__(self) -> str:
        return f"DynamoDBStore({self.table_name!r})"

    def item_key(self, key: str) -> dict[str, Any]:
        """The DynamoDB ``Key`` of ``key``'s item: the key, and our sort key value if any."""
        return {self._key_name: {"S": key}, **self._sort_key}

    @property
    def client(self) -> DynamoDBClient:
        """The botocore client, made on first use."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = _make_client(*self._client_options)
        return self._client

    # -- the protocol ---------------------------------------------------------------------

    def claim(self, claim: Claim) -> ClaimResult:
        """Take the key if it is free, in one UpdateItem.

        The condition admits exactly the free states (:meth:`LockItem.is_free_at`)::

            absent ──────────────────────────────▶ attribute_not_exists(#key)
            IN_PROGRESS, lease over, unmarked ───▶ #status = :in_progress
            (only with take_over)                  AND #lease_expires_at_ms < :now_ms
                                                   AND attribute_not_exists(
                                                       #outcome_unknown_at_ms)
            COMPLETED, retention over ───────────▶ #status = :completed
                                                   AND #expires_at_s <= :now_s
            IN_PROGRESS within its lease, COMPLETED within retention: refused, item returned

        ``fence`` continues from the stored fence (takeover, retention over) or starts from the
        claim's ``fence_base`` (absent item), so it grows across every claim of the key.
        """
        try:
            response = self._write(
                "update_item",
                claim.key,
                _claim_values(claim),
                _CLAIM_UPDATE if claim.fingerprint is None else _CLAIM_UPDATE_WITH_FINGERPRINT,
                _CLAIM_CONDITION if claim.take_over else _CLAIM_CONDITION_WITHOUT_TAKEOVER,
                # Not ALL_NEW: every attribute the claim writes is the claim's own but the two
                # counters, and botocore parses each attribute returned (~15 µs apiece). The old
                # item is empty for a new key, the usual case; over an existing one it brings the
                # recorded steps the claim keeps.
                returns="ALL_OLD",
            )
        except _ConditionFailed as failed:
            # No item with a failed condition: the backend ignored ALL_OLD (an absent item
            # passes the condition), so read what stopped us.
            old = self._record(failed.item) if failed.item else self.get(claim.key)
            return ClaimResult(False, old)
        names = self.attributes
        before = response.get("Attributes", {})
        fence, attempts = before.get(names.fence), before.get(names.attempts)
        status = before.get(names.status)
        released = names.released_at_ms in before
        # The update's arithmetic succeeded, so both counters were numbers if they were there
        # at all; and the condition admitted only an absent item or one of our two statuses.
        return ClaimResult(
            True,
            claim.written(
                None if fence is None else int(fence["N"]),
                None if attempts is None else int(attempts["N"]),
                _steps_of(before.get(names.steps), claim.key) if status == _IN_PROGRESS else (),
            ),
            None if status is None or released else _STATUSES[status["S"]],
        )

    def complete(
        self,
        key: str,
        owner: str,
        *,
        now_ms: int,
        result: str | None,
        expires_at_s: int | None,
    ) -> bool:
        """Mark the key completed, conditioned on our owner token.

        Only the owner condition: a retry of a complete whose response was lost finds the item
        already completed by us and succeeds again.
        """
        try:
            self._write(
                "update_item",
                key,
                _complete_values(owner, now_ms, result, expires_at_s),
                _COMPLETE_UPDATES[result is not None, expires_at_s is not None],
                _OWNER_CONDITION,
            )
        except _ConditionFailed:
            return False
        return True

    def resolve(
        self,
        key: str,
        owner: str,
        *,
        operator: str,
        now_ms: int,
        result: str | None,
        expires_at_s: int | None,
    ) -> bool:
        """Complete ``owner``'s claim in progress for ``operator``, who becomes its owner."""
        values = _complete_values(owner, now_ms, result, expires_at_s)
        values[":in_progress"] = _IN_PROGRESS
        values[":operator"] = {"S": operator}
        try:
            self._write(
                "update_item",
                key,
                values,
                _RESOLVE_UPDATES[result is not None, expires_at_s is not None],
                _OWNER_IN_PROGRESS_CONDITION,
            )
        except _ConditionFailed:
            return False
        return True

    def extend(
        self, key: str, owner: str, *, lease_expires_at_ms: int, expires_at_s: int
    ) -> int | None:
        """Move our lease forward: on our owner token, the key in progress, a shorter lease.

        The condition, not the caller, keeps a lease from moving back.
        """
        values: dict[str, Any] = {
            ":owner": {"S": owner},
            ":in_progress": _IN_PROGRESS,
            ":lease": {"N": str(lease_expires_at_ms)},
            ":expires": {"N": str(expires_at_s)},
        }
        try:
            self._write("update_item", key, values, _EXTEND_UPDATE, _EXTEND_CONDITION)
        except _ConditionFailed as failed:
            # Not ours any more, or ours with a later lease already (a late shorter extension).
            current = self._record(failed.item) if failed.item else self.get(key)
            return _held_lease(current, owner)
        return lease_expires_at_ms

    def mark_unknown(self, key: str, owner: str, *, now_ms: int) -> bool:
        """Mark ``owner``'s lapsed claim: its outcome is unknown (``on_lease_expired="refuse"``)."""
        values: dict[str, Any] = {
            ":owner": {"S": owner},
            ":in_progress": _IN_PROGRESS,
            ":now_ms": {"N": str(now_ms)},
        }
        try:
            self._write("update_item", key, values, _MARK_UNKNOWN_UPDATE, _MARK_UNKNOWN_CONDITION)
        except _ConditionFailed:
            return False
        return True

    def record_steps(
        self, key: str, owner: str, *, fence: int, steps: tuple[tuple[str, str], ...]
    ) -> bool:
        """Store every recovery point so far, conditioned on our claim (owner and fence)."""
        values: dict[str, Any] = {
            ":owner": {"S": owner},
            ":fence": {"N": str(fence)},
            ":in_progress": _IN_PROGRESS,
            ":steps": {"M": {name: _result_value(text) for name, text in steps}},
        }
        try:
            self._write("update_item", key, values, _RECORD_STEPS_UPDATE, _RECORD_STEPS_CONDITION)
        except _ConditionFailed:
            return False
        return True

    def free(self, key: str, owner: str, *, now_ms: int) -> bool:
        """Free our claim after a failure, keeping its steps; an absent item counts as freed."""
        values: dict[str, Any] = {
            ":owner": {"S": owner},
            ":in_progress": _IN_PROGRESS,
            ":now_ms": {"N": str(now_ms)},
            ":zero": {"N": "0"},
        }
        try:
            self._write("update_item", key, values, _FREE_UPDATE, _OWNER_IN_PROGRESS_CONDITION)
        except _ConditionFailed as failed:
            current = self._record(failed.item) if failed.item else self.get(key)
            return current is None
        return True

    def release(self, key: str, owner: str) -> bool:
        """Delete the key if we own it; an already absent item counts as released."""
        try:
            self._write("delete_item", key, {":owner": {"S": owner}}, None, _OWNER_CONDITION)
        except _ConditionFailed as failed:
            # Gone already (a retried delete whose first response was lost), or someone else's:
            # whose item is not parsed, so that nothing in it (an unreadable result) can raise.
            return not failed.item and self.get_item(key) is None
        return True

    # -- batches (idemlock.store.BatchWrites) ---------------------------------------------

    batch_limit: Final = BATCH_LIMIT
    """Claims, completes or releases per call: one BatchExecuteStatement request."""

    def claim_many(self, claims: Sequence[Claim]) -> list[ClaimResult | StoreError]:
        """:meth:`claim` for each claim: ``INSERT`` statements in one request.

        A key that has an item fails its ``INSERT`` (``DuplicateItem``). The statement asks for
        the item (``ALL_OLD``): a refusal that brings it needs no read, so a redelivered batch
        of duplicates is one request per 25 records. DynamoDB Local answers without it: the
        items not returned are read with one consistent BatchGetItem. A held one is the answer;
        a free one (lease over, retention over, released) or one gone meanwhile is claimed by
        :meth:`claim`.
        """
        try:
            refusals = self._execute([self._statements.claim_statement(c) for c in claims], claims)
        except _NoBatches:
            return _one_by_one(self.claim, claims)
        answers: list[ClaimResult | StoreError] = []
        held: dict[str, Claim] = {}
        returned: dict[str, dict[str, Any]] = {}
        for claim, refused in zip(claims, refusals, strict=True):
            if refused is None:
                answers.append(ClaimResult(True, claim.written()))
                continue
            if refused.get("Code") not in ("DuplicateItem", "ConditionalCheckFailed"):
                answers.append(self._refusal("batch_execute_statement", claim.key, refused))
                continue
            held[claim.key] = claim
            if refused.get("Item"):
                returned[claim.key] = refused["Item"]
            answers.append(ClaimResult(False, None))  # answered below
        if held:
            self._answer_held(claims, held, returned, answers)
        return answers

    def _answer_held(
        self,
        claims: Sequence[Claim],
        held: Mapping[str, Claim],
        returned: Mapping[str, dict[str, Any]],
        answers: list[ClaimResult | StoreError],
    ) -> None:
        """Put the answers of the ``held`` claims (their keys have items) into ``answers``.

        ``returned``: the items a refusal brought back; the others are read.
        """
        unread = [key for key in held if key not in returned]
        try:
            items: dict[str, dict[str, Any]] | None = {
                **returned,
                **(self._read_many(unread) if unread else {}),
            }
        except AccessDeniedError:
            self._no_batches(_DENIED)
            items = None  # each held claim by itself: the single claim reads what stops it
        for index, claim in enumerate(claims):
            if claim.key not in held:
                continue
            if items is None:
                answers[index] = _answer(self.claim, claim)
                continue
            try:
                raw = items.get(claim.key)
                item = None if raw is None else self._record(raw)
                answers[index] = (
                    self.claim(claim) if claim.takes(item) else ClaimResult(False, item)
                )
            except StoreError as exc:
                answers[index] = exc

    def complete_many(self, completes: Sequence[CompleteRequest]) -> list[bool | StoreError]:
        """:meth:`complete` for each complete: ``UPDATE ... WHERE owner = ?`` statements."""
        texts = [
            self._statements.complete_statement(
                c, None if c.result is None else _result_value(c.result)
            )
            for c in completes
        ]
        try:
            refusals = self._execute(texts, completes)
        except _NoBatches:
            return _one_by_one(lambda complete: complete.sent_to(self), completes)
        return [
            True
            if refused is None
            else False
            if refused.get("Code") == "ConditionalCheckFailed"
            else self._refusal("batch_execute_statement", complete.key, refused)
            for complete, refused in zip(completes, refusals, strict=True)
        ]

    def release_many(self, releases: Sequence[ReleaseRequest]) -> list[bool | StoreError]:
        """:meth:`release` for each release: ``DELETE ... WHERE owner = ?`` statements."""
        try:
            refusals = self._execute(
                [self._statements.release_statement(r) for r in releases], releases
            )
        except _NoBatches:
            return _one_by_one(lambda r: self.release(r.key, r.owner), releases)
        answers: list[bool | StoreError] = []
        for release, refused in zip(releases, refusals, strict=True):
            if refused is None:
                answers.append(True)
            elif refused.get("Code") != "ConditionalCheckFailed":
                answers.append(self._refusal("batch_execute_statement", release.key, refused))
            elif refused.get("Item"):
                answers.append(False)  # another owner's
            else:  # gone already, or a backend that returns no item: as release() decides
                answers.append(_answer(self._gone, release.key))
        return answers

    def _gone(self, key: str) -> bool:
        return self.get_item(key) is None

    def _execute(
        self,
        texts: list[dict[str, Any]],
        entries: Sequence[Claim | CompleteRequest | ReleaseRequest],
    ) -> list[Mapping[str, Any] | None]:
        """Send ``texts`` in one BatchExecuteStatement: each one's refusal, or ``None``.

        A refusal is the statement's ``Error`` as DynamoDB answers it: its ``Code``, ``Message``
        and, where DynamoDB brings it back, the ``Item`` that stopped it.

        A statement refused for throttling or an internal error is sent again (with the others
        so refused) after a pause; its refusal is the answer after the last pause.
        """
        if not texts:
            return []
        if not self.writes_in_batches:
            raise _NoBatches
        refusals: list[Mapping[str, Any] | None] = [None] * len(texts)
        pending = list(range(len(texts)))
        for pause_s in (*RETRY_PAUSES_S, None):
            responses = self._batch_request([texts[i] for i in pending], entries[pending[0]].key)
            if any(r.get("Error", {}).get("Code") == "AccessDenied" for r in responses):
                # The IAM policy allows the single-item actions only: every statement is sent
                # again by itself (each is idempotent for its owner, done or not).
                raise self._no_batches(_DENIED)
            retried = []
            for index, response in zip(pending, responses, strict=True):
                error = response.get("Error")
                refusals[index] = error
                if error is not None and error.get("Code") in RETRIED_CODES:
                    retried.append(index)
            if not retried or pause_s is None:
                return refusals
            time.sleep(pause_s)
            pending = retried
        return refusals

    def _batch_request(self, texts: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        """One BatchExecuteStatement: its responses.

        :class:`_NoBatches` if the backend (or the IAM policy) has none, from then on.
        """
        try:
            response = self._call("batch_execute_statement", key, Statements=texts)
        except AccessDeniedError:
            raise self._no_batches(_DENIED) from None
        except StoreError as exc:
            if "UnknownOperation" not in str(exc):
                raise
            raise self._no_batches(_NO_PARTIQL) from None
        responses: list[dict[str, Any]] = response["Responses"]
        return responses

    def _no_batches(self, warning: str) -> _NoBatches:
        """Send no batches from now on (``warning`` logged once); the signal to raise."""
        if self.writes_in_batches:
            self.writes_in_batches = False
            logger.warning("%s", warning)
        return _NoBatches()

    def _read_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The items of ``keys`` (at most 100), read consistently with BatchGetItem, by key."""
        wanted: dict[str, Any] = {
            self.table_name: {"Keys": [self.item_key(k) for k in keys], "ConsistentRead": True}
        }
        found: dict[str, dict[str, Any]] = {}
        assert len(keys) <= READ_LIMIT
        for pause_s in (*RETRY_PAUSES_S, None):
            response = self._call("batch_get_item", keys[0], RequestItems=wanted)
            for item in response.get("Responses", {}).get(self.table_name, []):
                found[item[self._key_name]["S"]] = item
            wanted = response.get("UnprocessedKeys") or {}
            if not wanted:
                return found
            if pause_s is None:
                break
            time.sleep(pause_s)
        for key in keys:  # still unprocessed: one GetItem each
            if key not in found and (item := self.get_item(key)) is not None:
                found[key] = item
        return found

    def _refusal(self, operation: str, key: str, refused: Mapping[str, Any]) -> StoreError:
        """A refused statement's error, as the single-item request's would be."""
        code = refused.get("Code", "")
        message = refused.get("Message", "")
        return self._translate(operation, key, STATEMENT_CODES.get(code, code), message)

    def delete(self, key: str, *, expected: LockItem | None = None) -> bool:
        """Delete the key for an operator; ``False`` if it changed or is gone.

        With ``expected``, only if the item is still that record (same status, owner and
        fence), so an operator never races a live owner who completed or re-claimed the key
        since it was read. Without, unconditionally (``False`` if there was nothing to delete).
        """
        if expected is None:
            response = self._call(
                "delete_item",
                key,
                TableName=self.table_name,
                Key=self.item_key(key),
                ReturnValues="ALL_OLD",
            )
            return bool(response.get("Attributes"))
        try:
            self._write(
                "delete_item",
                key,
                {
                    ":status": {"S": expected.status.value},
                    ":owner": {"S": expected.owner},
                    ":fence": {"N": str(expected.fence)},
                },
                None,
                "#status = :status AND #owner = :owner AND #fence = :fence",
            )
        except _ConditionFailed:
            return False
        return True

    def get(self, key: str) -> LockItem | None:
        """Read the key's record with a strongly consistent GetItem."""
        item = self.get_item(key)
        return self._record(item) if item else None

    def scan(
        self, *, prefix: str | None = None, page_size: int | None = None
    ) -> Iterator[LockItem]:
        """Yield every record, paginating the Scan; ``prefix`` filters on the stored key.

        ``page_size`` caps the items DynamoDB reads per request (its ``Limit``).
        """
        for item in self.scan_items(prefix=prefix, page_size=page_size):
            yield self._record(item)

    # -- raw items, for operators' tools --------------------------------------------------
    # The table may hold items idemlock did not write (another library's, a hand-made one):
    # a tool that lists or deletes them needs the raw item, and ``parse_item`` to tell them apart.

    def get_item(self, key: str) -> dict[str, Any] | None:
        """The key's item as DynamoDB returns it (typed values), strongly consistent."""
        response = self._call(
            "get_item",
            key,
            TableName=self.table_name,
            Key=self.item_key(key),
            ConsistentRead=True,
        )
        item: dict[str, Any] | None = response.get("Item")
        return item or None

    def scan_items(
        self,
        *,
        prefix: str | None = None,
        page_size: int | None = None,
        on_page: Callable[[int, float | None], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every item as DynamoDB returns it, as :meth:`scan` reads them.

        In a table with a sort key, only idemlock's items (those holding our sort key value):
        the application's own items are never listed.

        ``on_page(scanned, capacity_units)`` is called after each page's items: the items it
        read (with a ``prefix`` or a sort key, more than it returns: the filter applies after
        the read, and every item read is billed) and the read capacity it consumed (``None`` if
        the endpoint does not say).
        """
        params: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        if page_size is not None:
            params["Limit"] = page_size
        filters, names, values = [], {}, {}
        if prefix:
            filters.append("begins_with(#key, :prefix)")
            names["#key"], values[":prefix"] = self.attributes.key, {"S": prefix}
        if self.sort_key_value is not None:
            filters.append("#sort_key = :sort_key")
            names["#sort_key"] = str(self.attributes.sort_key)
            values[":sort_key"] = {"S": self.sort_key_value}
        if filters:
            params["FilterExpression"] = " AND ".join(filters)
            params["ExpressionAttributeNames"] = names
            params["ExpressionAttributeValues"] = values
        if on_page is not None:
            params["ReturnConsumedCapacity"] = "TOTAL"
        while True:
            page = self._call("scan", None, **params)
            yield from page.get("Items", [])
            if on_page is not None:
                consumed = page.get("ConsumedCapacity", {}).get("CapacityUnits")
                on_page(page.get("ScannedCount", 0), consumed)
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def parse_item(self, item: Mapping[str, Any]) -> LockItem:
        """An item read by :meth:`get_item` or :meth:`scan_items`, as a :class:`LockItem`.

        Raises :class:`StoreError` saying what is wrong if it is not an idemlock item.
        """
        return self._record(item)

    def check_table(self) -> dict[str, Any]:
        """The table's description (DescribeTable), once its key schema is checked.

        Raises :class:`TableMismatchError` if the key schema is not this store's, and
        :class:`TableNotFoundError` if there is no such table.
        """
        response = self._call("describe_table", None, TableName=self.table_name)
        description: dict[str, Any] = response["Table"]
        self._check_schema(description)
        return description

    # -- table setup ----------------------------------------------------------------------

    def create_table(self, *, wait: bool = True) -> bool:
        """Create the lock table (on-demand billing, TTL on ``expires_at_s``).

        Keyed as the attribute names say: the key, and the sort key when they name one.

        Returns ``True`` if it was created, ``False`` if a matching table already existed; a
        table with another key schema raises :class:`TableMismatchError`.
        """
        try:
            description = self._call("describe_table", None, TableName=self.table_name)["Table"]
        except TableNotFoundError:
            self._call(
                "create_table",
                None,
                TableName=self.table_name,
                AttributeDefinitions=self.attributes.key_definitions(),
                KeySchema=self.attributes.key_schema(),
                BillingMode="PAY_PER_REQUEST",
            )
            created = True
        else:
            self._check_schema(description)
            created = False
        if wait:
            self.client.get_waiter("table_exists").wait(
                TableName=self.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
            )
        self._enable_ttl()
        return created

    def _check_schema(self, description: Mapping[str, Any], operation: str = "") -> None:
        """:class:`TableMismatchError` unless the table is keyed as the attribute names say."""
        schema = [(k["AttributeName"], k["KeyType"]) for k in description.get("KeySchema", [])]
        definitions = description.get("AttributeDefinitions", [])
        types = {d["AttributeName"]: d["AttributeType"] for d in definitions}
        wanted = [(k["AttributeName"], k["KeyType"]) for k in self.attributes.key_schema()]
        if schema != wanted or any(types.get(name) != "S" for name, _ in schema):
            raise TableMismatchError(
                self.table_name,
                f"its key schema is {_schema_text(schema, types)}, and this store was given "
                f"{_schema_text(wanted, dict.fromkeys(types, 'S'))}; {_fix(schema, types)}",
                operation=operation or "describe_table",
            )

    def _mismatch(self, operation: str, key: str, message: str) -> TableMismatchError | None:
        """The error for an item request DynamoDB refused, if the table's key schema is why.

        Only on that error path: DescribeTable, to name the table's key schema (each backend
        words the refusal its own way). A caller that may not describe the table gets a
        TableMismatchError without the schema when the message says the key did not fit.
        """
        try:
            described = self._call("describe_table", None, TableName=self.table_name)
            self._check_schema(described["Table"], operation)
        except TableMismatchError as exc:
            exc.key = key
            return exc
        except StoreError:
            if not _is_key_mismatch(message):
                return None
            names = self.attributes
            given = f"key={names.key!r}"
            if names.sort_key is not None:
                given += f", sort_key={names.sort_key!r}"
            return TableMismatchError(
                self.table_name,
                f"DynamoDB refused the item's key ({message}); this store was given {given}. "
                "Pass the table's key names as attributes=AttributeNames(key=..., sort_key=...) "
                "(`idemlock doctor` shows the table's key schema)",
                operation=operation,
                key=key,
            )
        return None  # the table fits: another validation error

    def _enable_ttl(self) -> None:
        try:
            self._call(
                "update_time_to_live",
                None,
                TableName=self.table_name,
                TimeToLiveSpecification={
                    "Enabled": True,
                    "AttributeName": self.attributes.expires_at_s,
                },
            )
        except StoreError as exc:
            message = str(exc)
            if "already enabled" in message.lower():
                return
            if "UnknownOperation" in message:
                logger.warning("the DynamoDB endpoint does not support TTL; items are not expired")
                return
            raise

    # -- plumbing -------------------------------------------------------------------------

    def _write(
        self,
        operation: str,
        key: str,
        values: dict[str, Any],
        update: str | None,
        condition: str,
        *,
        returns: str | None = None,
    ) -> dict[str, Any]:
        """A conditional write on ``key``; raises :class:`_ConditionFailed` when refused.

        ``returns`` is the write's ``ReturnValues``. Only the table, the key and the values vary
        between two writes with the same expressions: the rest of the request is made once.
        """
        request = self._requests.get((update, condition, returns))
        if request is None:
            request = self._requests[update, condition, returns] = self._request(
                update, condition, returns
            )
        return self._send(
            operation,
            key,
            {
                **request,
                "TableName": self.table_name,
                "Key": self.item_key(key),
                "ExpressionAttributeValues": values,
            },
            conditional=True,
        )

    def _request(self, update: str | None, condition: str, returns: str | None) -> dict[str, Any]:
        """The part of a conditional write that these expressions fix.

        A name that needs no placeholder is written into the expressions as it is: botocore
        checks and serialises every ``ExpressionAttributeNames`` entry of every request, and with
        the default names the claim's went from 13 to 3, the complete's from 9 to 3.
        """
        text = f"{update} {condition}"
        # Only the placeholders these expressions use: DynamoDB rejects unused ones.
        names = {p: n for p, n in self.attributes.placeholders().items() if _mentions(text, p)}
        direct = {p: n for p, n in names.items() if _needs_no_placeholder(n)}
        request: dict[str, Any] = {
            "ConditionExpression": _spelled(condition, direct),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        placeholders = {p: n for p, n in names.items() if p not in direct}
        if placeholders:  # DynamoDB refuses an empty map
            request["ExpressionAttributeNames"] = placeholders
        if update is not None:
            request["UpdateExpression"] = _spelled(update, direct)
        if returns is not None:
            request["ReturnValues"] = returns
        return request

    def _call(self, operation: str, key: str | None, **params: Any) -> dict[str, Any]:
        """Any request on the table; botocore's errors become idemlock's (see :meth:`_error`)."""
        return self._send(operation, key, params, conditional=False)

    def _send(
        self, operation: str, key: str | None, params: dict[str, Any], *, conditional: bool
    ) -> dict[str, Any]:
        client = self._client if self._client is not None else self.client  # made on first use
        try:
            response: dict[str, Any] = getattr(client, operation)(**params)
        except Exception as exc:
            error = self._error(operation, key, conditional, exc)
            if error is None:
                raise  # not botocore's: the caller gets it as it was
            raise error from exc
        return response

    def _error(
        self, operation: str, key: str | None, conditional: bool, exc: Exception
    ) -> Exception | None:
        """What a failed botocore call raises instead, or ``None`` for another exception.

        The refusal of a conditional write is :class:`_ConditionFailed`; anything else of
        botocore's is a :class:`StoreError`.
        """
        # Imported here, off the path of a call that succeeds (see the module docstring).
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            if conditional and code == "ConditionalCheckFailedException":
                old_item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
                return _ConditionFailed(old_item)
            return self._translate(operation, key, code, error.get("Message", ""))
        if isinstance(exc, BotoCoreError):
            return _setup_error(exc) or StoreError(
                f"DynamoDB {_api_name(operation)} on table {self.table_name!r}"
                f"{'' if key is None else f' for key {key!r}'} failed: {exc}",
                operation=operation,
                key=key,
            )
        return None

    def _translate(self, operation: str, key: str | None, code: str, message: str) -> StoreError:
        if code == "ResourceNotFoundException":
            return TableNotFoundError(self.table_name, operation=operation, key=key)
        if code in _ACCESS_DENIED_CODES:
            actions = _ACTIONS_BY_OPERATION.get(operation, RUNTIME_ACTIONS)
            return AccessDeniedError(self.table_name, actions, operation=operation, key=key)
        if code == "ValidationException" and key is not None:  # a request on one item
            mismatch = self._mismatch(operation, key, message)
            if mismatch is not None:
                return mismatch
        return StoreError(
            f"DynamoDB {_api_name(operation)} on table {self.table_name!r}"
            f"{'' if key is None else f' for key {key!r}'} failed: {code}: {message}",
            operation=operation,
            key=key,
        )

    def _record(self, item: Mapping[str, Any]) -> LockItem:
        names = self.attributes
        get = item.get  # optional attributes: absent, or one {"N"|"S": ...} value
        try:
            lease, expires, completed, attempts, result, fingerprint, unknown = (
                get(names.lease_expires_at_ms),
                get(names.expires_at_s),
                get(names.completed_at_ms),
                get(names.attempts),
                get(names.result),
                get(names.fingerprint),
                get(names.outcome_unknown_at_ms),
            )
            key = item[names.key]["S"]
            released = get(names.released_at_ms)
            return LockItem(
                key=key,
                status=_STATUSES[item[names.status]["S"]],
                owner=item[names.owner]["S"],
                fence=int(item[names.fence]["N"]),
                claimed_at_ms=int(item[names.claimed_at_ms]["N"]),
                lease_expires_at_ms=None if lease is None else int(lease["N"]),
                expires_at_s=None if expires is None else int(expires["N"]),
                completed_at_ms=None if completed is None else int(completed["N"]),
                attempts=1 if attempts is None else int(attempts["N"]),
                result=None if result is None else _result_text(result, key),
                fingerprint=None if fingerprint is None else str(fingerprint["S"]),
                outcome_unknown_at_ms=None if unknown is None else int(unknown["N"]),
                steps=_steps_of(get(names.steps), key),
                released_at_ms=None if released is None else int(released["N"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(
                f"item {_key_of(item, names.key)!r} in table {self.table_name!r} is not an "
                f"idemlock record ({_what_is_wrong(item, names, exc)})",
                operation="read",
            ) from exc


_Entry = TypeVar("_Entry")
_Answer = TypeVar("_Answer")


def _one_by_one(
    send: Callable[[_Entry], _Answer], entries: Sequence[_Entry]
) -> list[_Answer | StoreError]:
    """Each entry sent by itself (a backend without batches): its answer, or its error."""
    return [_answer(send, entry) for entry in entries]


def _answer(send: Callable[[_Entry], _Answer], entry: _Entry) -> _Answer | StoreError:
    """What ``send(entry)`` answers, or the :class:`StoreError` it raised."""
    try:
        return send(entry)
    except StoreError as exc:
        return exc


def _steps_of(value: Mapping[str, Any] | None, key: str) -> tuple[tuple[str, str], ...]:
    """A stored ``steps`` map as (name, result text) pairs in name order; none: ``()``."""
    if value is None:
        return ()
    return tuple(sorted((name, _result_text(result, key)) for name, result in value["M"].items()))


def _sort_key_value(names: AttributeNames, value: str | None) -> str | None:
    """The sort key value of idemlock's items: ``None`` without a sort key, else checked."""
    if names.sort_key is None:
        if value is not None:
            raise ConfigurationError(
                "sort_key_value= needs a table with a sort key: pass "
                "attributes=AttributeNames(key=..., sort_key=...) too"
            )
        return None
    if value is None:
        return DEFAULT_SORT_KEY_VALUE
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"sort_key_value must be a non-empty string, got {value!r}")
    return value


_KEY_MISMATCH_MESSAGES: Final = (
    "key element does not match the schema",  # DynamoDB: a key attribute missing, or one more
    "type mismatch for key",  # a key attribute of another type
)


def _is_key_mismatch(message: str) -> bool:
    """Whether a ValidationException says the request's key does not fit the table's."""
    lowered = message.lower()
    return any(text in lowered for text in _KEY_MISMATCH_MESSAGES)


def _schema_text(schema: list[tuple[str, str]], types: Mapping[str, str]) -> str:
    """``'PK' (HASH, S), 'SK' (RANGE, S)``."""
    return ", ".join(f"{name!r} ({kind}, {types.get(name, '?')})" for name, kind in schema)


def _fix(schema: list[tuple[str, str]], types: Mapping[str, str]) -> str:
    """What to pass for a table keyed ``schema``, or why idemlock cannot use it."""
    if any(types.get(name) != "S" for name, _ in schema):
        return (
            "idemlock's keys are strings: give idemlock a table of its own "
            "(DynamoDBStore(...).create_table(), or `idemlock create-table`)"
        )
    names = {kind: name for name, kind in schema}
    option = f"key={names.get('HASH')!r}"
    flags = f"--attribute key={names.get('HASH')}"
    if "RANGE" in names:
        option += f", sort_key={names['RANGE']!r}"
        flags += f" --attribute sort_key={names['RANGE']}"
    return f"pass attributes=AttributeNames({option}) (the CLI: {flags})"


def _result_value(result: str) -> dict[str, Any]:
    """The attribute value a result is stored as: its JSON, or zlib of it when that pays."""
    raw = result.encode("utf-8")
    if len(raw) > COMPRESS_ABOVE_BYTES:
        packed = zlib.compress(raw)
        if len(packed) < len(raw):
            return {"B": packed}
    return {"S": result}


def _result_text(value: Mapping[str, Any], key: str) -> str:
    """A stored result's JSON, whichever way it was stored (``S``, or zlib in ``B``).

    A result attribute that is neither (corrupted, or written by another tool) raises
    :class:`UnreadableResultError`: the duplicate is told so, and the CLI lists the item as
    unreadable, instead of a ``zlib.error`` on every read of the item.
    """
    if "B" in value:
        try:
            return zlib.decompress(value["B"]).decode("utf-8")
        except (zlib.error, UnicodeDecodeError) as exc:
            raise UnreadableResultError(
                key, f"its binary result attribute is not zlib-compressed UTF-8 ({exc})"
            ) from exc
    if isinstance(value.get("S"), str):
        return str(value["S"])
    kinds = ", ".join(sorted(value)) or "none"
    raise UnreadableResultError(
        key, f"its result attribute is of DynamoDB type {kinds}, not a string (S) or binary (B)"
    )


def _make_client(
    endpoint_url: str | None,
    region_name: str | None,
    profile_name: str | None,
    config: Config | None,
) -> DynamoDBClient:
    import botocore.session  # noqa: PLC0415  (deferred: see the module docstring)
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415

    defaults = Config(
        # Standard mode retries throttling, 5xx and dropped connections with jittered backoff;
        # a retried claim is safe because the owner token recognises our own earlier write.
        retries={"mode": "standard", "max_attempts": 4},  # retries after the first attempt
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=32,
        tcp_keepalive=True,
        # botocore checks every request against the service model before sending it, about a
        # tenth of a request's client CPU. This client sends only the store's own requests,
        # built by code the test suite runs against botocore's validation on clients it makes
        # itself; DynamoDB still refuses a malformed request. Never changed on a passed client.
        parameter_validation=False,
    )
    session = botocore.session.Session(profile=profile_name)
    _share_loaded_models(session)
    try:
        # botocore reads AWS_DEFAULT_REGION but not AWS_REGION, the variable Lambda documents and
        # most people set: honour it too, after the explicit argument and botocore's own sources.
        # An empty one is none (botocore would build the endpoint "dynamodb..amazonaws.com").
        region_name = (
            region_name
            or session.get_config_variable("region")
            or os.environ.get("AWS_REGION")
            or None
        )
        client: DynamoDBClient = session.create_client(  # type: ignore[assignment]
            "dynamodb",
            region_name=region_name,
            endpoint_url=endpoint_url,
            config=defaults.merge(config) if config is not None else defaults,
        )
    except BotoCoreError as exc:
        setup = _setup_error(exc)
        if setup is None:
            raise
        raise setup from exc
    return client


def _share_loaded_models(session: botocore.session.Session) -> None:
    """Let ``session`` reuse the service models boto3's default session has already loaded.

    Reading and parsing botocore's JSON models is most of the cost of a first client (about 50 of
    80 ms on a 2-CPU machine); a handler that made a boto3 client has paid it already, in boto3's
    default session. Only the loader, a cache of parsed files, is shared: credentials, region and
    event hooks stay this session's own. Nothing is imported: without boto3 loaded, or with a
    boto3 that keeps its session elsewhere, the session loads its own models as usual.
    """
    default = getattr(sys.modules.get("boto3"), "DEFAULT_SESSION", None)
    botocore_session = getattr(default, "_session", None)  # boto3 keeps no public handle on it
    get_component = getattr(botocore_session, "get_component", None)
    if callable(get_component):
        session.register_component("data_loader", get_component("data_loader"))


def _setup_error(exc: Exception) -> AWSSetupError | None:
    """The set-up mistakes everyone makes, as errors saying how to fix them; else ``None``."""
    from botocore.exceptions import NoCredentialsError, NoRegionError, ProfileNotFound  # noqa: PLC0415

    if isinstance(exc, NoCredentialsError):
        return AWSSetupError(
            "credentials",
            "no AWS credentials found",
            "set AWS_PROFILE (or DynamoDBStore(profile_name=...)) to a profile that has some, or "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    if isinstance(exc, NoRegionError):
        return AWSSetupError(
            "region",
            "no AWS region configured",
            "set AWS_REGION, or pass DynamoDBStore(region_name=...)",
        )
    if isinstance(exc, ProfileNotFound):
        return AWSSetupError(
            "profile",
            f"no AWS profile {exc.kwargs.get('profile')!r} in the AWS configuration",
            "name one that exists (`aws configure list-profiles` lists them) in AWS_PROFILE or "
            "DynamoDBStore(profile_name=...)",
        )
    return None


_PLACEHOLDER: Final = re.compile(r"#\w+")
_UNRESERVED_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+")
"""A name an expression may hold as it is: DynamoDB's reserved words are all letters, so a name
of letters and digits joined by underscores, starting with a letter, is never one."""

_UNDERSCORED_FUNCTIONS: Final = frozenset(
    (
        "attribute_exists",
        "attribute_not_exists",
        "attribute_type",
        "begins_with",
        "if_not_exists",
        "list_append",
    )
)
"""The expression functions such a name could be mistaken for."""

_UNRESERVED_WORDS: Final = frozenset(("id", "fence", "attempts", "fingerprint", "steps"))
"""Default names without an underscore that DynamoDB does not reserve (``status``, ``owner`` and
``result`` it does): https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html"""


def _needs_no_placeholder(name: str) -> bool:
    """Whether ``name`` can stand in an expression without an ``ExpressionAttributeNames`` entry."""
    if name in _UNRESERVED_WORDS:
        return True
    return bool(_UNRESERVED_NAME.fullmatch(name)) and name.lower() not in _UNDERSCORED_FUNCTIONS


def _spelled(expression: str, direct: Mapping[str, str]) -> str:
    """``expression`` with each placeholder of ``direct`` replaced by the name it stands for."""
    return _PLACEHOLDER.sub(lambda match: direct.get(match[0], match[0]), expression)


def _mentions(text: str, placeholder: str) -> bool:
    """Whether ``placeholder`` occurs in ``text`` as a whole token (``#key`` is not ``#keys``)."""
    start = text.find(placeholder)
    while start != -1:
        end = start + len(placeholder)
        if end == len(text) or not (text[end].isalnum() or text[end] == "_"):
            return True
        start = text.find(placeholder, end)
    return False


def _key_of(item: Mapping[str, Any], name: str) -> object:
    """The item's key for a message: its string value when it has one, else what is there."""
    value = item.get(name)
    return value.get("S", value) if isinstance(value, Mapping) else value


def _what_is_wrong(item: Mapping[str, Any], names: AttributeNames, exc: Exception) -> str:
    """Why ``item`` is not a record, for a person: a missing attribute, or a foreign status."""
    status = _key_of(item, names.status)
    if names.status in item and status not in _STATUSES:
        return f"status {status!r} is not {' or '.join(_STATUSES)}"
    for name in (names.key, names.status, names.owner, names.fence, names.claimed_at_ms):
        if name not in item:
            return f"no {name!r} attribute"
    return f"an attribute has the wrong type: {exc!r}"


def _api_name(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))
