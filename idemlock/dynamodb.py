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
import sys
import threading
import zlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from idemlock.errors import (
    AccessDeniedError,
    ConfigurationError,
    StoreError,
    TableMismatchError,
    TableNotFoundError,
)
from idemlock.item import LockItem, LockStatus
from idemlock.store import Claim, ClaimResult

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
"""The IAM actions ``@idempotent`` uses on the lock table: a least-privilege policy needs these."""

SETUP_ACTIONS: Final = (
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:DescribeTimeToLive",
)
"""The IAM actions :meth:`DynamoDBStore.create_table` uses."""

OPERATOR_ACTIONS: Final = ("dynamodb:Scan",)
"""The IAM actions that listing the table (``DynamoDBStore.scan``) uses."""

_ACTIONS_BY_OPERATION: Final[Mapping[str, tuple[str, ...]]] = {
    "create_table": SETUP_ACTIONS,
    "describe_table": SETUP_ACTIONS,
    "update_time_to_live": SETUP_ACTIONS,
    "describe_time_to_live": SETUP_ACTIONS,
    "scan": (*OPERATOR_ACTIONS, *RUNTIME_ACTIONS),
}

_ACCESS_DENIED_CODES: Final = frozenset({"AccessDeniedException", "AccessDenied"})


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


class AttributeNames(_Fields):
    """The table's attribute names: non-empty and distinct, checked when made.

    Any name works, reserved words included: every expression refers to them through
    ``ExpressionAttributeNames``. The partition key is a string. Read-only.
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
        )
        if any(not isinstance(name, str) or not name for name in names):
            raise ConfigurationError("attribute names must be non-empty strings")
        if len(set(names)) != len(names):
            raise ConfigurationError(f"attribute names must be distinct, got {tuple(names)}")
        return names

    def placeholders(self) -> dict[str, str]:
        """``#field`` → configured name, for ``ExpressionAttributeNames``."""
        return {f"#{field}": name for field, name in zip(self._fields, self, strict=True)}


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
    f"{_CLAIM_SET} REMOVE #result, #completed_at_ms, #fingerprint ADD #attempts :one"
)
_CLAIM_UPDATE_WITH_FINGERPRINT: Final = (
    f"{_CLAIM_SET}, #fingerprint = :fingerprint REMOVE #result, #completed_at_ms ADD #attempts :one"
)
_CLAIM_CONDITION: Final = (
    "attribute_not_exists(#key)"
    " OR (#status = :in_progress AND #lease_expires_at_ms < :now_ms)"
    " OR (#status = :completed AND #expires_at_s <= :now_s)"
)
_OWNER_CONDITION: Final = "#owner = :owner"
_EXTEND_UPDATE: Final = "SET #lease_expires_at_ms = :lease, #expires_at_s = :expires"
_EXTEND_CONDITION: Final = "#owner = :owner AND #status = :in_progress"


def _complete_update(has_result: bool, expires: bool) -> str:
    assignments = ["#status = :completed", "#completed_at_ms = :now_ms"]
    removals = ["#lease_expires_at_ms"]
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

_IN_PROGRESS: Final = {"S": LockStatus.IN_PROGRESS.value}
_COMPLETED: Final = {"S": LockStatus.COMPLETED.value}
_ONE: Final = {"N": "1"}
_STATUSES: Final = {status.value: status for status in LockStatus}


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
    ) -> None:
        if not isinstance(table_name, str) or not table_name:
            raise ConfigurationError("DynamoDBStore needs a table name")
        self.table_name = table_name
        self.attributes = attributes or AttributeNames()
        self._client = client
        self._client_options = (endpoint_url, region_name, profile_name, config)
        self._client_lock = threading.Lock()
        self._key_name = self.attributes.key
        self._requests: dict[tuple[str | None, str, str | None], dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"DynamoDBStore({self.table_name!r})"

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
            IN_PROGRESS, lease over ─────────────▶ #status = :in_progress
                                                   AND #lease_expires_at_ms < :now_ms
            COMPLETED, retention over ───────────▶ #status = :completed
                                                   AND #expires_at_s <= :now_s
            IN_PROGRESS within its lease, COMPLETED within retention: refused, item returned

        ``fence`` continues from the stored fence (takeover, retention over) or starts from the
        claim's ``fence_base`` (absent item), so it grows across every claim of the key.
        """
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
        try:
            response = self._write(
                "update_item",
                claim.key,
                values,
                _CLAIM_UPDATE if claim.fingerprint is None else _CLAIM_UPDATE_WITH_FINGERPRINT,
                _CLAIM_CONDITION,
                # Not ALL_NEW: every attribute the claim writes is the claim's own but the two
                # counters, and botocore parses each attribute returned (~15 µs apiece). The old
                # values of what the update touched are empty for a new key, the usual case.
                returns="UPDATED_OLD",
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
        # The update's arithmetic succeeded, so both counters were numbers if they were there
        # at all; and the condition admitted only an absent item or one of our two statuses.
        return ClaimResult(
            True,
            claim.written(
                None if fence is None else int(fence["N"]),
                None if attempts is None else int(attempts["N"]),
            ),
            None if status is None else _STATUSES[status["S"]],
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
        values: dict[str, Any] = {
            ":completed": _COMPLETED,
            ":owner": {"S": owner},
            ":now_ms": {"N": str(now_ms)},
        }
        if result is not None:
            values[":result"] = _result_value(result)
        if expires_at_s is not None:
            values[":expires"] = {"N": str(expires_at_s)}
        try:
            self._write(
                "update_item",
                key,
                values,
                _COMPLETE_UPDATES[result is not None, expires_at_s is not None],
                _OWNER_CONDITION,
            )
        except _ConditionFailed:
            return False
        return True

    def extend(self, key: str, owner: str, *, lease_expires_at_ms: int, expires_at_s: int) -> bool:
        """Move our lease, conditioned on our owner token and the key still in progress."""
        values: dict[str, Any] = {
            ":owner": {"S": owner},
            ":in_progress": _IN_PROGRESS,
            ":lease": {"N": str(lease_expires_at_ms)},
            ":expires": {"N": str(expires_at_s)},
        }
        try:
            self._write("update_item", key, values, _EXTEND_UPDATE, _EXTEND_CONDITION)
        except _ConditionFailed:
            return False
        return True

    def release(self, key: str, owner: str) -> bool:
        """Delete the key if we own it; an already absent item counts as released."""
        try:
            self._write("delete_item", key, {":owner": {"S": owner}}, None, _OWNER_CONDITION)
        except _ConditionFailed as failed:
            # Gone already (a retried delete whose first response was lost), or someone else's.
            current = self._record(failed.item) if failed.item else self.get(key)
            return current is None
        return True

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
                Key={self.attributes.key: {"S": key}},
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
            Key={self.attributes.key: {"S": key}},
            ConsistentRead=True,
        )
        item: dict[str, Any] | None = response.get("Item")
        return item or None

    def scan_items(
        self, *, prefix: str | None = None, page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield every item as DynamoDB returns it, as :meth:`scan` reads them."""
        params: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        if page_size is not None:
            params["Limit"] = page_size
        if prefix:
            params["FilterExpression"] = "begins_with(#key, :prefix)"
            params["ExpressionAttributeNames"] = {"#key": self.attributes.key}
            params["ExpressionAttributeValues"] = {":prefix": {"S": prefix}}
        while True:
            page = self._call("scan", None, **params)
            yield from page.get("Items", [])
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

        Returns ``True`` if it was created, ``False`` if a matching table already existed; a
        table with another key schema raises :class:`TableMismatchError`.
        """
        key = self.attributes.key
        try:
            description = self._call("describe_table", None, TableName=self.table_name)["Table"]
        except TableNotFoundError:
            self._call(
                "create_table",
                None,
                TableName=self.table_name,
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
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

    def _check_schema(self, description: Mapping[str, Any]) -> None:
        key = self.attributes.key
        schema = [(k["AttributeName"], k["KeyType"]) for k in description.get("KeySchema", [])]
        definitions = description.get("AttributeDefinitions", [])
        types = {d["AttributeName"]: d["AttributeType"] for d in definitions}
        if schema != [(key, "HASH")] or types.get(key) != "S":
            raise TableMismatchError(
                self.table_name,
                f"its key schema is {schema} with types {types}; idemlock needs a single string "
                f"partition key named {key!r} (or pass attributes=AttributeNames(key=...))",
            )

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
                "Key": {self._key_name: {"S": key}},
                "ExpressionAttributeValues": values,
            },
            conditional=True,
        )

    def _request(self, update: str | None, condition: str, returns: str | None) -> dict[str, Any]:
        """The part of a conditional write that these expressions fix."""
        text = f"{update} {condition}"
        request: dict[str, Any] = {
            "ConditionExpression": condition,
            # Only the placeholders these expressions use: DynamoDB rejects unused ones.
            "ExpressionAttributeNames": {
                p: n for p, n in self.attributes.placeholders().items() if _mentions(text, p)
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if update is not None:
            request["UpdateExpression"] = update
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
            return StoreError(
                f"DynamoDB {_api_name(operation)} on table {self.table_name!r}"
                f"{'' if key is None else f' for key {key!r}'} failed: {_advice(exc)}",
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
            lease, expires, completed, attempts, result, fingerprint = (
                get(names.lease_expires_at_ms),
                get(names.expires_at_s),
                get(names.completed_at_ms),
                get(names.attempts),
                get(names.result),
                get(names.fingerprint),
            )
            return LockItem(
                key=item[names.key]["S"],
                status=_STATUSES[item[names.status]["S"]],
                owner=item[names.owner]["S"],
                fence=int(item[names.fence]["N"]),
                claimed_at_ms=int(item[names.claimed_at_ms]["N"]),
                lease_expires_at_ms=None if lease is None else int(lease["N"]),
                expires_at_s=None if expires is None else int(expires["N"]),
                completed_at_ms=None if completed is None else int(completed["N"]),
                attempts=1 if attempts is None else int(attempts["N"]),
                result=None if result is None else _result_text(result),
                fingerprint=None if fingerprint is None else str(fingerprint["S"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(
                f"item {_key_of(item, names.key)!r} in table {self.table_name!r} is not an "
                f"idemlock record ({_what_is_wrong(item, names, exc)})",
                operation="read",
            ) from exc


def _result_value(result: str) -> dict[str, Any]:
    """The attribute value a result is stored as: its JSON, or zlib of it when that pays."""
    raw = result.encode("utf-8")
    if len(raw) > COMPRESS_ABOVE_BYTES:
        packed = zlib.compress(raw)
        if len(packed) < len(raw):
            return {"B": packed}
    return {"S": result}


def _result_text(value: Mapping[str, Any]) -> str:
    """A stored result's JSON, whichever way it was stored (``S``, or zlib in ``B``)."""
    if "B" in value:
        return zlib.decompress(value["B"]).decode("utf-8")
    return str(value["S"])


def _make_client(
    endpoint_url: str | None,
    region_name: str | None,
    profile_name: str | None,
    config: Config | None,
) -> DynamoDBClient:
    import botocore.session  # noqa: PLC0415  (deferred: see the module docstring)
    from botocore.config import Config  # noqa: PLC0415

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
    # botocore reads AWS_DEFAULT_REGION but not AWS_REGION, the variable Lambda documents and
    # most people set: honour it too, after the explicit argument and botocore's own sources.
    region_name = (
        region_name or session.get_config_variable("region") or os.environ.get("AWS_REGION")
    )
    client: DynamoDBClient = session.create_client(  # type: ignore[assignment]
        "dynamodb",
        region_name=region_name,
        endpoint_url=endpoint_url,
        config=defaults.merge(config) if config is not None else defaults,
    )
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


def _advice(exc: Exception) -> str:
    """The error's message, with what to do for the two set-up mistakes everyone makes."""
    from botocore.exceptions import NoCredentialsError, NoRegionError  # noqa: PLC0415

    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found; use a profile (AWS_PROFILE, or --profile) or set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, NoRegionError):
        return "no AWS region configured; set AWS_REGION (or pass --region / region_name=)"
    return str(exc)


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
