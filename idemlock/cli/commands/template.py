"""``idemlock template``: the lock table and its least-privilege IAM policy, as code."""

from __future__ import annotations

import argparse
from typing import Any

from idemlock.cli.common import EXIT_OK, UsageError
from idemlock.cli.flags import (
    DEFAULT_TABLE,
    add_output_flag,
    add_table_flags,
    attribute_names,
    table_name,
)
from idemlock.cli.output import print_json
from idemlock.cli.templates import TEMPLATES, Spec


def register(commands: Any) -> None:
    """Add ``template``."""
    template = commands.add_parser(
        "template", help="the lock table and its least-privilege IAM policy, as code"
    )
    template.add_argument("--format", choices=tuple(TEMPLATES), required=True)
    template.add_argument(
        "--namespace",
        action="append",
        default=[],
        type=namespace,
        help="let the functions touch only keys of this namespace (NAMESPACE#...), with IAM's "
        "dynamodb:LeadingKeys condition (repeatable)",
    )
    template.add_argument(
        "--no-batches",
        dest="batches",
        action="store_false",
        help="grant only what @idempotent uses, not the PartiQL and BatchGetItem actions "
        "@idempotent_records sends a batch's writes in (without them it sends one request "
        "per record)",
    )
    # No endpoint, region or profile: a template is made here, without calling AWS.
    add_table_flags(template, default=DEFAULT_TABLE, items=False)
    add_output_flag(template)
    template.set_defaults(run=run)


def namespace(text: str) -> str:
    """An argparse type: a namespace IAM matches literally (no wildcard, no policy variable)."""
    if not text or any(char in text for char in "*?$"):
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot be matched literally by IAM: give the namespace your functions "
            "pass to @idempotent(namespace=...), without *, ? or $"
        )
    return text


def run(args: argparse.Namespace) -> int:
    """Print the infrastructure code for the chosen tool."""
    table = table_name(args, default=DEFAULT_TABLE)
    if table.startswith("arn:"):
        raise UsageError(f"{table!r} is an ARN: a template makes the table, give its name")
    spec = Spec(table, attribute_names(args), tuple(args.namespace), batches=args.batches)
    text = TEMPLATES[args.format](spec)
    if args.output == "json":
        print_json({"format": args.format, "table": spec.table, "template": text})
    else:
        print(text, end="")
    return EXIT_OK
