"""The lock protocol's writes as PartiQL statements, for DynamoDB's BatchExecuteStatement.

One request carries up to 25 write statements on distinct items, each with its own outcome: a
batch of records costs one request per 25 claims, completes or releases instead of one each,
and botocore's per-request work (signing, serialising, parsing) is most of a call's client CPU.

- A claim is an ``INSERT``: it writes the claim's item if the key has none, and fails that
  statement with ``DuplicateItem`` otherwise. The statement asks for the item (``ALL_OLD``):
  an answer that brings it settles the claim; DynamoDB Local brings none, and the store reads
  the items not brought with one consistent BatchGetItem. A key found free takes the single
  conditional UpdateItem.
- A complete is an ``UPDATE ... WHERE owner = ?``, the single complete's owner condition.
- A release is a ``DELETE ... WHERE owner = ?``.

Names are quoted identifiers (``"status"``, a ``"`` doubled) and the item's keys in an
``INSERT`` are string literals (``'status'``, a ``'`` doubled), so any attribute name works;
every value is a parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from idemlock.store import Claim, CompleteRequest, ReleaseRequest

BATCH_LIMIT: Final = 25
"""Statements per BatchExecuteStatement request (DynamoDB's limit)."""

READ_LIMIT: Final = 100
"""Keys per BatchGetItem request (DynamoDB's limit)."""

RETRIED_CODES: Final = frozenset(
    {
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
        "InternalServerError",
        "TransactionConflict",
    }
)
"""A statement's error codes that ask for the statement to be sent again (botocore retries a
failed request, never one statement of a request that succeeded)."""

RETRY_PAUSES_S: Final = (0.05, 0.2, 0.8)
"""Pauses before sending a retried statement again; after the last, its error is the answer."""

STATEMENT_CODES: Final = {
    "ResourceNotFound": "ResourceNotFoundException",
    "AccessDenied": "AccessDeniedException",
    "ValidationError": "ValidationException",
}
"""A statement's error code as the single-item API names the same error."""


COMPLETE_CLEARS: Final = ("lease_expires_at_ms", "outcome_unknown_at_ms", "steps", "released_at_ms")
"""The attributes (``AttributeNames`` fields) a complete removes: the claim's lease, a mark of an
unknown outcome, the recovery points, a release. One list for the single complete's update
expression and the batch's ``UPDATE``, so that the two write the same item."""


def _name(name: str) -> str:
    """An attribute or table name as a PartiQL quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def _text(name: str) -> str:
    """An attribute name as a PartiQL string literal (a key of an ``INSERT``'s item)."""
    return "'" + name.replace("'", "''") + "'"


class Statements:
    """One table's statements: their texts worked out once per store, each sent with its values.

    ``names`` are the table's attribute names (an ``AttributeNames``); ``sort_key_value`` is what
    idemlock's items hold in the sort key (``None`` without one). A plain class, not a named
    tuple: every handler loads this module, and making a named tuple's class costs about
    0.2 ms of its cold start, where idemlock's own modules have 10 ms in all.
    """

    __slots__ = ("_claim", "_claim_with_fingerprint", "_completes", "_release", "_sort_key_value")

    def __init__(self, table: str, names: Any, sort_key_value: str | None) -> None:
        keys = [names.key] if names.sort_key is None else [names.key, names.sort_key]
        where = " AND ".join(f"{_name(name)} = ?" for name in keys)
        owned = f"{where} AND {_name(names.owner)} = ?"
        claimed = [
            *keys,
            names.status,
            names.owner,
            names.fence,
            names.claimed_at_ms,
            names.lease_expires_at_ms,
            names.expires_at_s,
            names.attempts,
        ]
        self._sort_key_value = sort_key_value
        self._claim = _insert(table, claimed)
        self._claim_with_fingerprint = _insert(table, [*claimed, names.fingerprint])
        self._completes = {
            (has_result, expires): _complete(table, names, owned, has_result, expires)
            for has_result in (False, True)
            for expires in (False, True)
        }
        self._release = f"DELETE FROM {_name(table)} WHERE {owned}"

    def claim_statement(self, claim: Claim) -> dict[str, Any]:
        """The ``INSERT`` of ``claim``'s item (what :meth:`Claim.written` says, on no item)."""
        item = claim.written()
        values: list[dict[str, Any]] = [
            *self._key(claim.key),
            {"S": item.status.value},
            {"S": item.owner},
            {"N": str(item.fence)},
            {"N": str(item.claimed_at_ms)},
            {"N": str(item.lease_expires_at_ms)},
            {"N": str(item.expires_at_s)},
            {"N": str(item.attempts)},
        ]
        text = self._claim
        if claim.fingerprint is not None:
            values.append({"S": claim.fingerprint})
            text = self._claim_with_fingerprint
        return {
            "Statement": text,
            "Parameters": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def complete_statement(
        self, complete: CompleteRequest, result: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The ``UPDATE`` of ``complete``; ``result`` is the stored result's attribute value."""
        values: list[dict[str, Any]] = [{"S": "COMPLETED"}, {"N": str(complete.now_ms)}]
        if result is not None:
            values.append(result)
        if complete.expires_at_s is not None:
            values.append({"N": str(complete.expires_at_s)})
        values += [*self._key(complete.key), {"S": complete.owner}]
        text = self._completes[result is not None, complete.expires_at_s is not None]
        return {
            "Statement": text,
            "Parameters": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def release_statement(self, release: ReleaseRequest) -> dict[str, Any]:
        """The ``DELETE`` of ``release``."""
        return {
            "Statement": self._release,
            "Parameters": [*self._key(release.key), {"S": release.owner}],
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _key(self, key: str) -> list[dict[str, Any]]:
        if self._sort_key_value is None:
            return [{"S": key}]
        return [{"S": key}, {"S": self._sort_key_value}]


def _insert(table: str, names: list[str]) -> str:
    pairs = ", ".join(f"{_text(name)}: ?" for name in names)
    return f"INSERT INTO {_name(table)} VALUE {{{pairs}}}"


def _complete(table: str, names: Any, owned: str, has_result: bool, expires: bool) -> str:
    """The complete's ``UPDATE``, as the single complete's update expression.

    Clause by clause: PartiQL takes one ``SET`` or ``REMOVE`` per attribute.
    """
    sets = [names.status, names.completed_at_ms]
    removals = [getattr(names, field) for field in COMPLETE_CLEARS]
    (sets if has_result else removals).append(names.result)
    (sets if expires else removals).append(names.expires_at_s)
    clauses = [f"SET {_name(name)} = ?" for name in sets]
    clauses += [f"REMOVE {_name(name)}" for name in removals]
    return f"UPDATE {_name(table)} {' '.join(clauses)} WHERE {owned}"
