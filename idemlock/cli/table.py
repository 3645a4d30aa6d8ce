"""``idemlock create-table`` and ``template``: the lock table, made now or as code."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from idemlock.cli.common import (
    DEFAULT_TABLE,
    add_common_flags,
    add_output_flag,
    add_table_flags,
    attribute_names,
    print_json,
    store_for,
    table_name,
)
from idemlock.dynamodb import OPERATOR_ACTIONS, RUNTIME_ACTIONS, SETUP_ACTIONS, AttributeNames
from idemlock.keys import SEPARATOR

FORMATS = ("cloudformation", "sam", "serverless", "terraform")


def register(commands: Any) -> None:
    """Add ``create-table`` and ``template``."""
    create = commands.add_parser(
        "create-table", help="create the lock table (on-demand, TTL on), wait until ACTIVE"
    )
    create.add_argument("name", metavar="NAME", nargs="?", help="table name (default: --table)")
    add_common_flags(create)
    create.set_defaults(run=run_create_table)

    template = commands.add_parser(
        "template", help="the lock table and its least-privilege IAM policy, as code"
    )
    template.add_argument("--format", choices=FORMATS, required=True)
    template.add_argument(
        "--namespace",
        action="append",
        default=[],
        type=namespace,
        help="let the functions touch only keys of this namespace (NAMESPACE#...), with IAM's "
        "dynamodb:LeadingKeys condition (repeatable)",
    )
    # No endpoint, region or profile: a template is made here, without calling AWS.
    add_table_flags(template, default=DEFAULT_TABLE)
    add_output_flag(template)
    template.set_defaults(run=run_template)


def namespace(text: str) -> str:
    """An argparse type: a namespace IAM matches literally (no wildcard, no policy variable)."""
    if not text or any(char in text for char in "*?$"):
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot be matched literally by IAM: give the namespace your functions "
            "pass to @idempotent(namespace=...), without *, ? or $"
        )
    return text


def run_create_table(args: argparse.Namespace) -> int:
    """Create the table, or accept an existing one with the right key schema."""
    store = store_for(args, args.name)
    created = store.create_table(wait=True)
    if args.output == "json":
        print_json({"table": store.table_name, "created": created})
    elif created:
        names = store.attributes
        sort_key = "" if names.sort_key is None else f", sort key {names.sort_key!r} (S)"
        print(
            f"created table {store.table_name!r}: on-demand, key {names.key!r} (S){sort_key}, "
            f"TTL on {names.expires_at_s!r}; ACTIVE"
        )
    else:
        print(f"table {store.table_name!r} already exists with the right key schema; TTL on")
    return 0


def run_template(args: argparse.Namespace) -> int:
    """Print the infrastructure code for the chosen tool."""
    spec = Spec(
        table_name(args, default=DEFAULT_TABLE),
        attribute_names(args),
        tuple(args.namespace),
    )
    table = spec.table
    text = TEMPLATES[args.format](spec)
    if args.output == "json":
        print_json({"format": args.format, "table": table, "template": text})
    else:
        print(text, end="")
    return 0


class Spec(NamedTuple):
    """What a template is made of: the table, its attribute names, the functions' namespaces."""

    table: str
    names: AttributeNames = AttributeNames()
    namespaces: Sequence[str] = ()

    @property
    def leading_keys(self) -> list[str]:
        """The key patterns the functions may touch (IAM ``StringLike``), one per namespace."""
        return [f"{each}{SEPARATOR}*" for each in self.namespaces]


LEADING_KEYS_TEST = "ForAllValues:StringLike"
"""Every partition key a request touches must match a pattern. Item actions (the only ones
idemlock's functions use) always name one key, so the condition never passes vacuously."""


def _table_resource(spec: Spec) -> dict[str, Any]:
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


def _statement(spec: Spec) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Action": list(RUNTIME_ACTIONS),
        "Resource": {"Fn::GetAtt": ["IdemlockTable", "Arn"]},
    }
    if spec.namespaces:
        statement["Condition"] = {
            LEADING_KEYS_TEST: {"dynamodb:LeadingKeys": spec.leading_keys},
        }
    return statement


_HEADER = (
    "# idemlock lock table (TTL on {ttl}) and the least-privilege policy its functions\n"
    "# need: {runtime}{scope}.\n"
    "# Operators running `idemlock ls`, `stats` or `purge` also need {operator};\n"
    "# `idemlock create-table` needs {setup}.\n"
)


def _header(spec: Spec) -> str:
    return _HEADER.format(
        ttl=spec.names.expires_at_s,
        runtime=", ".join(RUNTIME_ACTIONS),
        scope=f",\n# only on keys {', '.join(spec.leading_keys)}" if spec.namespaces else "",
        operator=", ".join(OPERATOR_ACTIONS),
        setup=", ".join(SETUP_ACTIONS),
    )


def cloudformation(spec: Spec) -> str:
    """A CloudFormation template: the table and a managed policy to attach to functions."""
    document = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "idemlock lock table and the policy its functions need",
        "Resources": {
            "IdemlockTable": _table_resource(spec),
            "IdemlockPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Description": "What @idempotent does on the idemlock lock table",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [_statement(spec)]},
                },
            },
        },
        "Outputs": {
            "LockTableName": {"Value": {"Ref": "IdemlockTable"}},
            "LockTablePolicyArn": {"Value": {"Ref": "IdemlockPolicy"}},
        },
    }
    return _header(spec) + to_yaml(document)


def sam(spec: Spec) -> str:
    """A SAM template: the table, and a function with the statement and IDEMLOCK_TABLE."""
    document = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": "idemlock lock table and a function using it",
        "Resources": {
            "IdemlockTable": _table_resource(spec),
            "HandlerFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "src/",
                    "Handler": "app.handler",
                    "Runtime": "python3.12",
                    "Timeout": 60,
                    "Environment": {"Variables": {"IDEMLOCK_TABLE": {"Ref": "IdemlockTable"}}},
                    "Policies": [{"Statement": [_statement(spec)]}],
                },
            },
        },
    }
    return _header(spec) + to_yaml(document)


def serverless(spec: Spec) -> str:
    """serverless.yml fragments: the provider's statement and environment, and the table."""
    document = {
        "provider": {
            "environment": {"IDEMLOCK_TABLE": spec.table},
            "iam": {"role": {"statements": [_statement(spec)]}},
        },
        "resources": {
            "Resources": {
                "IdemlockTable": _table_resource(spec),
            }
        },
    }
    return _header(spec) + to_yaml(document)


def terraform(spec: Spec) -> str:
    """Terraform: the table, the policy document and a policy to attach to function roles."""
    names = spec.names
    actions = ", ".join(json.dumps(action) for action in RUNTIME_ACTIONS)
    condition = (
        f"\n    condition {{\n"
        f"      test     = {json.dumps(LEADING_KEYS_TEST)}\n"
        f'      variable = "dynamodb:LeadingKeys"\n'
        f"      values   = {json.dumps(spec.leading_keys)}\n"
        f"    }}\n"
        if spec.namespaces
        else ""
    )
    range_key = "" if names.sort_key is None else f"  range_key    = {json.dumps(names.sort_key)}\n"
    attributes = "".join(
        f'  attribute {{\n    name = {json.dumps(part["AttributeName"])}\n    type = "S"\n  }}\n\n'
        for part in names.key_definitions()
    )
    return _header(spec) + (
        f'resource "aws_dynamodb_table" "idemlock" {{\n'
        f"  name         = {json.dumps(spec.table)}\n"
        f'  billing_mode = "PAY_PER_REQUEST"\n'
        f"  hash_key     = {json.dumps(names.key)}\n"
        f"{range_key}\n"
        f"{attributes}"
        f"  ttl {{\n"
        f"    attribute_name = {json.dumps(names.expires_at_s)}\n"
        f"    enabled        = true\n"
        f"  }}\n"
        f"}}\n\n"
        f'data "aws_iam_policy_document" "idemlock" {{\n'
        f"  statement {{\n"
        f'    effect    = "Allow"\n'
        f"    actions   = [{actions}]\n"
        f"    resources = [aws_dynamodb_table.idemlock.arn]\n"
        f"{condition}"
        f"  }}\n"
        f"}}\n\n"
        f'resource "aws_iam_policy" "idemlock" {{\n'
        f"  name   = {json.dumps(spec.table + '-lock-table')}\n"
        f"  policy = data.aws_iam_policy_document.idemlock.json\n"
        f"}}\n"
    )


TEMPLATES: dict[str, Callable[[Spec], str]] = {
    "cloudformation": cloudformation,
    "sam": sam,
    "serverless": serverless,
    "terraform": terraform,
}


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists and scalars (scalars quoted as JSON when needed)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:\n{to_yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}\n")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                nested = to_yaml(item, indent + 1)
                lines.append(f"{pad}- {nested.lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(item)}\n")
    else:
        lines.append(f"{pad}{_scalar(value)}\n")
    return "".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value in ({}, []):
        return json.dumps(value)
    text = str(value)
    plain = text.replace("-", "").replace("_", "").replace(".", "").replace("/", "")
    if (
        plain.isalnum()
        and not text[0].isdigit()
        and text.lower() not in ("true", "false", "null", "yes", "no", "on", "off")
    ):
        return text
    return json.dumps(text)
