"""What every template is made of, and the pieces the formats share.

A :class:`Spec` (the table, its attribute names, the functions' namespaces, whether they run
batches), and what every format writes from it: the table resource, the policy statement, the
header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from idemlock.dynamodb import (
    BATCH_ACTIONS,
    OPERATOR_ACTIONS,
    RUNTIME_ACTIONS,
    SETUP_ACTIONS,
    AttributeNames,
)
from idemlock.keys import SEPARATOR


class Spec(NamedTuple):
    """What a template is made of.

    The table, its attribute names, the functions' namespaces, and whether they run batches of
    records (most serverless consumers do: the default).
    """

    table: str
    names: AttributeNames = AttributeNames()
    namespaces: Sequence[str] = ()
    batches: bool = True

    @property
    def actions(self) -> list[str]:
        """The IAM actions the functions are granted: a batch's besides the single requests'."""
        return [*RUNTIME_ACTIONS, *BATCH_ACTIONS] if self.batches else list(RUNTIME_ACTIONS)

    @property
    def leading_keys(self) -> list[str]:
        """The key patterns the functions may touch (IAM ``StringLike``), one per namespace."""
        return [f"{each}{SEPARATOR}*" for each in self.namespaces]


LEADING_KEYS_TEST: Final = "ForAllValues:StringLike"
"""Every partition key a request touches must match a pattern. Every action idemlock's functions
use names its keys (an item action one, each PartiQL statement its own, a BatchGetItem all it
reads), so the condition never passes vacuously; and every one of them, the PartiQL actions and
BatchGetItem included, takes ``dynamodb:LeadingKeys`` (see :data:`idemlock.dynamodb.BATCH_ACTIONS`),
so one statement holds single requests and batches alike to the namespaces."""


def table_resource(spec: Spec) -> dict[str, Any]:
    """The ``AWS::DynamoDB::Table`` resource: on-demand, string key (and sort key), TTL on."""
    names = spec.names
    return {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": spec.table,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": names.key_definitions(),
            "KeySchema": names.key_schema(),
            "TimeToLiveSpecification": {"AttributeName": names.expires_at_s, "Enabled": True},
        },
    }


def statement(spec: Spec) -> dict[str, Any]:
    """The IAM statement the functions need, held to their namespaces' keys if given."""
    granted: dict[str, Any] = {
        "Effect": "Allow",
        "Action": spec.actions,
        "Resource": {"Fn::GetAtt": ["IdemlockTable", "Arn"]},
    }
    if spec.namespaces:
        granted["Condition"] = {
            LEADING_KEYS_TEST: {"dynamodb:LeadingKeys": spec.leading_keys},
        }
    return granted


_HEADER: Final = (
    "# idemlock lock table (TTL on {ttl}) and the least-privilege policy its functions\n"
    "# need: {runtime} (@idempotent){batch}{scope}.{without}\n"
    "# Operators running `idemlock ls`, `stats` or `purge` also need {operator};\n"
    "# `idemlock create-table` needs {setup}.\n"
)


def header(spec: Spec) -> str:
    """The comment every template starts with: what it grants, and what operators need."""
    batch_actions = ", ".join(BATCH_ACTIONS)
    return _HEADER.format(
        ttl=spec.names.expires_at_s,
        runtime=", ".join(RUNTIME_ACTIONS),
        batch=(
            f"\n# and, for batches of records (@idempotent_records, StreamDispatcher),\n"
            f"# {batch_actions}"
            if spec.batches
            else ""
        ),
        scope=f",\n# only on keys {', '.join(spec.leading_keys)}" if spec.namespaces else "",
        without=(
            ""
            if spec.batches
            else f"\n# Not granted (--no-batches): {batch_actions};\n# without them "
            "@idempotent_records sends one request per record, not 25 records to one."
        ),
        operator=", ".join(OPERATOR_ACTIONS),
        setup=", ".join(SETUP_ACTIONS),
    )
