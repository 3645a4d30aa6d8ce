"""``idemlock template``: the table and a least-privilege policy, held to the functions'
namespaces when given."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from idemlock.dynamodb import BATCH_ACTIONS, RUNTIME_ACTIONS
from tests.cli_helpers import Run

FUNCTION_ACTIONS = [*RUNTIME_ACTIONS, *BATCH_ACTIONS]
"""What a function's policy grants by default: single requests, and batches of records."""


@pytest.mark.parametrize("fmt", ["cloudformation", "sam", "serverless"])
def test_yaml_templates_declare_the_table_and_least_privilege(fmt: str, idemlock: Run) -> None:
    """Each YAML template has the table (on-demand, key id, TTL on expires_at_s) and a statement
    with exactly the actions idemlock uses, on that table: single requests and batches."""
    done = idemlock("template", "--format", fmt, "--table", "orders-locks")
    document = yaml.safe_load(done.stdout)

    resources = document["resources"]["Resources"] if fmt == "serverless" else document["Resources"]
    table = resources["IdemlockTable"]["Properties"]
    assert table["TableName"] == "orders-locks"
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at_s", "Enabled": True}
    statements = {
        "cloudformation": lambda: resources["IdemlockPolicy"]["Properties"]["PolicyDocument"][
            "Statement"
        ],
        "sam": lambda: resources["HandlerFunction"]["Properties"]["Policies"][0]["Statement"],
        "serverless": lambda: document["provider"]["iam"]["role"]["statements"],
    }[fmt]()
    assert statements == [
        {
            "Effect": "Allow",
            "Action": FUNCTION_ACTIONS,
            "Resource": {"Fn::GetAtt": ["IdemlockTable", "Arn"]},
        }
    ]


def test_terraform_template(idemlock: Run) -> None:
    """The Terraform template has the table with TTL and the policy with the exact actions,
    the batches' among them."""
    text = idemlock("template", "--format", "terraform").stdout

    assert 'resource "aws_dynamodb_table" "idemlock"' in text
    assert 'attribute_name = "expires_at_s"' in text
    assert f"actions   = [{', '.join(json.dumps(a) for a in FUNCTION_ACTIONS)}]" in text
    assert "resources = [aws_dynamodb_table.idemlock.arn]" in text


def _statements(fmt: str, text: str) -> list[dict[str, Any]]:
    """The IAM statements a template grants its functions, read back from its text."""
    if fmt == "terraform":
        return [
            _terraform_statement(block)
            for block in re.findall(r"statement \{.*?\n  \}", text, re.S)
        ]
    document = yaml.safe_load(text)
    if fmt == "serverless":
        return list(document["provider"]["iam"]["role"]["statements"])
    resources = document["Resources"]
    if fmt == "sam":
        return list(resources["HandlerFunction"]["Properties"]["Policies"][0]["Statement"])
    return list(resources["IdemlockPolicy"]["Properties"]["PolicyDocument"]["Statement"])


def _terraform_statement(block: str) -> dict[str, Any]:
    """A Terraform ``statement { ... }`` block as an IAM statement (its values are JSON)."""

    def value(name: str, text: str) -> Any:
        found = re.search(rf"^\s*{name}\s*=\s*(.+)$", text, re.M)
        assert found, f"no {name} in {text}"
        return found[1] if name == "resources" else json.loads(found[1])

    statement: dict[str, Any] = {
        "Effect": value("effect", block),
        "Action": value("actions", block),
        "Resource": value("resources", block),
    }
    for condition in re.findall(r"condition \{.*?\}", block, re.S):
        test, variable = value("test", condition), value("variable", condition)
        statement.setdefault("Condition", {}).setdefault(test, {})[variable] = value(
            "values", condition
        )
    return statement


@pytest.mark.parametrize("fmt", ["cloudformation", "sam", "serverless", "terraform"])
def test_namespaces_restrict_the_policy_to_their_keys(fmt: str, idemlock: Run) -> None:
    """--namespace NS (repeatable) adds IAM's dynamodb:LeadingKeys condition: the functions may
    touch only items whose key starts with NS#, on the lock table, with every action they use:
    the batch actions name their keys as the item actions do (each lists dynamodb:LeadingKeys in
    the Service Authorization Reference), so one condition holds them all."""
    done = idemlock(
        "template", "--format", fmt, "--namespace", "orders", "--namespace", "import-users"
    )
    assert done.returncode == 0, done.stderr

    [statement] = _statements(fmt, done.stdout)

    assert statement["Effect"] == "Allow"
    assert statement["Action"] == FUNCTION_ACTIONS
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["orders#*", "import-users#*"]}
    }
    assert "*" not in json.dumps(statement["Resource"])


@pytest.mark.parametrize("fmt", ["cloudformation", "sam", "serverless", "terraform"])
def test_without_a_namespace_the_policy_has_no_condition(fmt: str, idemlock: Run) -> None:
    """Without --namespace the statement covers the whole table, as before."""
    [statement] = _statements(fmt, idemlock("template", "--format", fmt).stdout)

    assert "Condition" not in statement
    assert statement["Action"] == FUNCTION_ACTIONS


@pytest.mark.parametrize("fmt", ["cloudformation", "sam", "serverless", "terraform"])
def test_no_batches_grants_the_single_request_actions_only(fmt: str, idemlock: Run) -> None:
    """--no-batches, for functions that only use @idempotent: the statement has exactly
    RUNTIME_ACTIONS (namespaces still apply), and the header says what batches would need."""
    done = idemlock("template", "--format", fmt, "--no-batches", "--namespace", "orders")
    assert done.returncode == 0, done.stderr

    [statement] = _statements(fmt, done.stdout)

    assert statement["Action"] == list(RUNTIME_ACTIONS)
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["orders#*"]}
    }
    header = "".join(line for line in done.stdout.splitlines(keepends=True) if line[:1] == "#")
    assert all(action in header for action in BATCH_ACTIONS)
    assert "one request per record" in header


@pytest.mark.parametrize("fmt", ["cloudformation", "sam", "serverless", "terraform"])
def test_the_header_says_what_the_batch_actions_are_for(fmt: str, idemlock: Run) -> None:
    """The comment above the template names the single-request and the batch actions, and
    which decorator uses which, so a reader trimming the policy knows what each line buys."""
    text = idemlock("template", "--format", fmt).stdout
    header = "".join(line for line in text.splitlines(keepends=True) if line[:1] == "#")

    assert all(action in header for action in (*RUNTIME_ACTIONS, *BATCH_ACTIONS))
    assert "@idempotent_records" in header


@pytest.mark.parametrize("namespace", ["", "orders*", "a?b", "${aws:username}"])
def test_a_namespace_iam_would_read_as_a_pattern_is_refused(namespace: str, idemlock: Run) -> None:
    """An empty namespace, or one with IAM's wildcards or policy variables, is a usage error."""
    done = idemlock("template", "--format", "sam", "--namespace", namespace)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "argument --namespace: " in done.stderr
    assert "without *, ? or $" in done.stderr


def test_template_uses_the_attribute_names_given(idemlock: Run) -> None:
    """--attribute key=pk --attribute expires_at_s=ttl: the table's key and TTL use them."""
    done = idemlock(
        "template", "--format", "cloudformation", "--attribute", "key=pk",
        "--attribute", "expires_at_s=ttl",
    )  # fmt: skip
    table = yaml.safe_load(done.stdout)["Resources"]["IdemlockTable"]["Properties"]

    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
