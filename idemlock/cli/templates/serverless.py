"""The Serverless Framework: ``serverless.yml`` fragments."""

from __future__ import annotations

from idemlock.cli.templates.spec import Spec, header, statement, table_resource
from idemlock.cli.templates.yaml_emitter import to_yaml


def serverless(spec: Spec) -> str:
    """serverless.yml fragments: the provider's statement and environment, and the table."""
    document = {
        "provider": {
            "environment": {"IDEMLOCK_TABLE": spec.table},
            "iam": {"role": {"statements": [statement(spec)]}},
        },
        "resources": {
            "Resources": {
                "IdemlockTable": table_resource(spec),
            }
        },
    }
    return header(spec) + to_yaml(document)
