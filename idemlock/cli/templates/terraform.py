"""Terraform: the table, the policy document, and a policy to attach to function roles."""

from __future__ import annotations

import json

from idemlock.cli.templates.spec import LEADING_KEYS_TEST, Spec, header


def terraform(spec: Spec) -> str:
    """Terraform: the table, the policy document and a policy to attach to function roles."""
    names = spec.names
    actions = ", ".join(json.dumps(action) for action in spec.actions)
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
    return header(spec) + (
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
