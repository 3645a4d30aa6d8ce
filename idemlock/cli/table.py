"""``idemlock create-table`` and ``template``: the lock table, made now or as code."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

from idemlock._options import TABLE_ENV
from idemlock.cli.common import DEFAULT_TABLE, add_connection_flags, print_json, store_for
from idemlock.dynamodb import OPERATOR_ACTIONS, RUNTIME_ACTIONS, SETUP_ACTIONS, AttributeNames

FORMATS = ("cloudformation", "sam", "serverless", "terraform")


def register(commands: Any) -> None:
    """Add ``create-table`` and ``template``."""
    create = commands.add_parser(
        "create-table", help="create the lock table (on-demand, TTL on), wait until ACTIVE"
    )
    create.add_argument("name", metavar="NAME", nargs="?", help="table name (default: --table)")
    add_connection_flags(create)
    create.set_defaults(run=run_create_table)

    template = commands.add_parser(
        "template", help="the lock table and its least-privilege IAM policy, as code"
    )
    template.add_argument("--format", choices=FORMATS, required=True)
    add_connection_flags(template)  # for uniform scripts; only --table and --output matter
    template.set_defaults(run=run_template)


def run_create_table(args: argparse.Namespace) -> int:
    """Create the table, or accept an existing one with the right key schema."""
    store = store_for(args, args.name)
    created = store.create_table(wait=True)
    if args.output == "json":
        print_json({"table": store.table_name, "created": created})
    elif created:
        print(
            f"created table {store.table_name!r}: on-demand, key {store.attributes.key!r} (S), "
            f"TTL on {store.attributes.expires_at_s!r}; ACTIVE"
        )
    else:
        print(f"table {store.table_name!r} already exists with the right key schema; TTL on")
    return 0


def run_template(args: argparse.Namespace) -> int:
    """Print the infrastructure code for the chosen tool."""
    table = args.table or os.environ.get(TABLE_ENV) or DEFAULT_TABLE
    text = TEMPLATES[args.format](table)
    if args.output == "json":
        print_json({"format": args.format, "table": table, "template": text})
    else:
        print(text, end="")
    return 0


def _table_resource(table: str) -> dict[str, Any]:
    names = AttributeNames()
    return {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": table,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": names.key, "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": names.key, "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": names.expires_at_s, "Enabled": True},
        },
    }


def _statement() -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Action": list(RUNTIME_ACTIONS),
        "Resource": {"Fn::GetAtt": ["IdemlockTable", "Arn"]},
    }


_HEADER = (
    "# idemlock lock table (TTL on expires_at_s) and the least-privilege policy its functions\n"
    "# need: {runtime}.\n"
    "# Operators running `idemlock ls`, `stats` or `purge` also need {operator};\n"
    "# `idemlock create-table` needs {setup}.\n"
)


def _header() -> str:
    return _HEADER.format(
        runtime=", ".join(RUNTIME_ACTIONS),
        operator=", ".join(OPERATOR_ACTIONS),
        setup=", ".join(SETUP_ACTIONS),
    )


def cloudformation(table: str) -> str:
    """A CloudFormation template: the table and a managed policy to attach to functions."""
    document = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "idemlock lock table and the policy its functions need",
        "Resources": {
            "IdemlockTable": _table_resource(table),
            "IdemlockPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Description": "What @idempotent does on the idemlock lock table",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [_statement()]},
                },
            },
        },
        "Outputs": {
            "LockTableName": {"Value": {"Ref": "IdemlockTable"}},
            "LockTablePolicyArn": {"Value": {"Ref": "IdemlockPolicy"}},
        },
    }
    return _header() + to_yaml(document)


def sam(table: str) -> str:
    """A SAM template: the table, and a function with the statement and IDEMLOCK_TABLE."""
    document = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": "idemlock lock table and a function using it",
        "Resources": {
            "IdemlockTable": _table_resource(table),
            "HandlerFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "src/",
                    "Handler": "app.handler",
                    "Runtime": "python3.12",
                    "Timeout": 60,
                    "Environment": {"Variables": {"IDEMLOCK_TABLE": {"Ref": "IdemlockTable"}}},
                    "Policies": [{"Statement": [_statement()]}],
                },
            },
        },
    }
    return _header() + to_yaml(document)


def serverless(table: str) -> str:
    """serverless.yml fragments: the provider's statement and environment, and the table."""
    document = {
        "provider": {
            "environment": {"IDEMLOCK_TABLE": table},
            "iam": {"role": {"statements": [_statement()]}},
        },
        "resources": {
            "Resources": {
                "IdemlockTable": _table_resource(table),
            }
        },
    }
    return _header() + to_yaml(document)


def terraform(table: str) -> str:
    """Terraform: the table, the policy document and a policy to attach to function roles."""
    names = AttributeNames()
    actions = ", ".join(json.dumps(action) for action in RUNTIME_ACTIONS)
    return _header() + (
        f'resource "aws_dynamodb_table" "idemlock" {{\n'
        f"  name         = {json.dumps(table)}\n"
        f'  billing_mode = "PAY_PER_REQUEST"\n'
        f"  hash_key     = {json.dumps(names.key)}\n\n"
        f"  attribute {{\n"
        f"    name = {json.dumps(names.key)}\n"
        f'    type = "S"\n'
        f"  }}\n\n"
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
        f"  }}\n"
        f"}}\n\n"
        f'resource "aws_iam_policy" "idemlock" {{\n'
        f"  name   = {json.dumps(table + '-lock-table')}\n"
        f"  policy = data.aws_iam_policy_document.idemlock.json\n"
        f"}}\n"
    )


TEMPLATES: dict[str, Callable[[str], str]] = {
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
