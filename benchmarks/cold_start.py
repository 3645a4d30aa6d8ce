"""3. Cold start: importing a library and making its store, each in a fresh interpreter.

Every variant runs in its own ``python -X importtime`` process. The child times its statement
with ``perf_counter`` and counts ``sys.modules`` before and after; ``-X importtime``'s cumulative
figures of the top-level imports the statement triggered are summed as a cross-check. One untimed
run of each variant first, so every run finds warm ``__pycache__`` files and a warm page cache, as
a Lambda container reusing its image layers would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

from benchmarks.common import ROOT, summary

VARIANTS: dict[str, str] = {
    "boto3 import": "import boto3",
    "boto3 import + DynamoDB client": "import boto3; boto3.client('dynamodb')",
    "botocore import + DynamoDB client": (
        "import botocore.session; botocore.session.Session().create_client('dynamodb')"
    ),
    "idemlock import + DynamoDBStore": "import idemlock; idemlock.DynamoDBStore('locks')",
    "idemlock ready to call (+ its client)": (
        "import idemlock; idemlock.DynamoDBStore('locks').client"
    ),
    "powertools idempotency import + DynamoDBPersistenceLayer": (
        "from aws_lambda_powertools.utilities.idempotency import ("
        "DynamoDBPersistenceLayer, IdempotencyConfig, idempotent); "
        "DynamoDBPersistenceLayer(table_name='locks')"
    ),
}
"""What each fresh interpreter runs. Powertools makes its boto3 client in the layer's
constructor; idemlock makes its botocore client on first use, so it is shown both ways."""

_CHILD = """
import json, sys, time
modules = len(sys.modules)
sys.stderr.write("--measure--\\n"); sys.stderr.flush()
start = time.perf_counter()
{statement}
elapsed = time.perf_counter() - start
print(json.dumps({{"ms": elapsed * 1000, "modules": len(sys.modules) - modules}}))
"""

_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")


def _run(statement: str) -> dict[str, float]:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _CHILD.format(statement=statement)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(completed.stdout)
    after = completed.stderr.partition("--measure--\n")[2]
    top_level_us = sum(
        int(match.group(2))
        for match in map(_IMPORTTIME.match, after.splitlines())
        if match is not None and len(match.group(3)) == 1  # top-level: one space of indent
    )
    return {
        "ms": float(measured["ms"]),
        "importtime_ms": top_level_us / 1000,
        "modules": float(measured["modules"]),
    }


def measure(*, runs: int) -> dict[str, Any]:
    """Per variant: wall ms (summary), ``-X importtime`` ms (median), modules added."""
    for statement in VARIANTS.values():
        _run(statement)  # warm caches, untimed
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for _ in range(runs):
        for name, statement in VARIANTS.items():  # interleaved
            samples[name].append(_run(statement))
    results: dict[str, Any] = {"runs": runs, "variants": {}}
    for name, rows in samples.items():
        results["variants"][name] = {
            "statement": VARIANTS[name],
            "ms": summary([row["ms"] for row in rows]),
            "importtime_ms": summary([row["importtime_ms"] for row in rows]),
            "modules": int(summary([row["modules"] for row in rows])["median"]),
        }
    variants = results["variants"]

    def median(name: str) -> float:
        return float(variants[name]["ms"]["median"])

    results["derived"] = {
        "idemlock_ready_minus_boto3_client_ms": median("idemlock ready to call (+ its client)")
        - median("boto3 import + DynamoDB client"),
        "idemlock_ready_minus_botocore_client_ms": median("idemlock ready to call (+ its client)")
        - median("botocore import + DynamoDB client"),
        "powertools_minus_boto3_client_ms": median(
            "powertools idempotency import + DynamoDBPersistenceLayer"
        )
        - median("boto3 import + DynamoDB client"),
        "ratio_ready_idemlock_to_powertools": median("idemlock ready to call (+ its client)")
        / median("powertools idempotency import + DynamoDBPersistenceLayer"),
    }
    return results
