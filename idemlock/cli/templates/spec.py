"""What every template is made of, and the pieces the formats share.

A :class:`Spec` (the table, its attribute names, the functions' namespaces), and what every
format writes from it: the table resource, the policy statement, the header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from idemlock.dynamodb import OPERATOR_ACTIONS, RUNTIME_ACTIONS, SETUP_ACTIONS, AttributeNames
from idemlock.keys import SEPARATOR


class Spec(NamedTuple):
    """What a template is made of: the table, its attribute names, the functions' namespaces."""

    table: str
    names: AttributeNames = AttributeNames()
    namespaces: Sequence[str] = ()

    @property
    def leading_keys(self) -> list[str]:
        """The key patterns the functions may touch (IAM ``StringLike``), one per namespace."""
        return [f"{each}{SEPARATOR}*" for each in self.namespaces]


LEADING_KEYS_TEST: Final = "ForAllValues:StringLike"
"""Every partition key a request touches must match a pattern. Item actions (the only ones
idemlock's functions use) always name one key, so the condition never passes vacuously."""


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
        "Action": list(RUNTIME_ACTIONS),
        "Resource": {"Fn::GetAtt": ["IdemlockTable", "Arn"]},
    }
    if spec.namespaces:
        granted["Condition"] = {
            LEADING_KEYS_TEST: {"dynamodb:LeadingKeys": spec.leading_keys},
        }
    return granted


_HEADER: Final = (
    "# idemlock lock table (TTL on {ttl}) and the least-privilege policy its functions\n"
    "# need: {runtime}{scope}.\n"
    "# Operators running `idemlock ls`, `stats` or `purge` also need {operator};\n"
    "# `idemlock create-table` needs {setup}.\n"
)


def header(spec: Spec) -> str:
    """The comment every template starts with: what it grants, and what operators need."""
    return _HEADER.format(
        ttl=spec.names.expires_at_s,
        runtime=", ".join(RUNTIME_ACTIONS),
        scope=f",\n# only on keys {', '.join(spec.leading_keys)}" if spec.namespaces else "",
        operator=", ".join(OPERATOR_ACTIONS),
        setup=", ".join(SETUP_ACTIONS),
    )
