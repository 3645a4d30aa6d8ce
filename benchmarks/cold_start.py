"""3. Cold start: importing a library and making its store, each in a fresh interpreter.

Every variant runs in its own ``python -X importtime`` process. The child runs its untimed setup,
then times its statement
with ``perf_counter`` and counts ``sys.modules`` before and after; ``-X importtime``'s cumulative
figures of the top-level imports the statement triggered are summed as a cross-check.

Bytecode: every child uses one private ``PYTHONPYCACHEPREFIX`` (and ``PYTHONDONTWRITEBYTECODE`` is
dropped), and one untimed run of each variant fills it first, so every module -- idemlock's from
the repository as well as boto3's and Powertools' from site-packages -- loads from compiled
bytecode, with a warm page cache. Without that, a source checkout run with
``PYTHONDONTWRITEBYTECODE=1`` recompiles idemlock on every start while the installed libraries
load their ``.pyc`` files: an unfair 30-40 ms against idemlock.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Any

from benchmarks.common import ROOT, summary

_BOTO3_CLIENT = "import boto3; boto3.client('dynamodb')"
_IDEMLOCK_READY = "import idemlock; idemlock.DynamoDBStore('locks').client"
_POWERTOOLS_READY = (
    "from aws_lambda_powertools.utilities.idempotency import ("
    "DynamoDBPersistenceLayer, IdempotencyConfig, idempotent); "
    "DynamoDBPersistenceLayer(table_name='locks')"
)
# What a handler module runs at import: the library, its store, one decorated handler.
_IDEMLOCK_HANDLER = (
    "import idemlock; store = idemlock.DynamoDBStore('locks'); "
    "idemlock.idempotent(lambda e, c: e['id'], store=store)(lambda e, c: None)"
)
# The same, keyed by an event source (S3 notifications), as most handlers of AWS events are.
_IDEMLOCK_S3_HANDLER = (
    "import idemlock; from idemlock.sources import s3; store = idemlock.DynamoDBStore('locks'); "
    "idemlock.idempotent(s3.notification, store=store)(lambda e, c: None)"
)
_POWERTOOLS_HANDLER = (
    "from aws_lambda_powertools.utilities.idempotency import ("
    "DynamoDBPersistenceLayer, IdempotencyConfig, idempotent); "
    "layer = DynamoDBPersistenceLayer(table_name='locks'); "
    "idempotent(persistence_store=layer, config=IdempotencyConfig(event_key_jmespath='id'))"
    "(lambda e, c: None)"
)

VARIANTS: dict[str, tuple[str, str]] = {
    "boto3 import": ("", "import boto3"),
    "boto3 import + DynamoDB client": ("", _BOTO3_CLIENT),
    "botocore import + DynamoDB client": (
        "",
        "import botocore.session; botocore.session.Session().create_client('dynamodb')",
    ),
    "idemlock import + DynamoDBStore": ("", "import idemlock; idemlock.DynamoDBStore('locks')"),
    "idemlock ready to call (+ its client)": ("", _IDEMLOCK_READY),
    "powertools idempotency import + DynamoDBPersistenceLayer": ("", _POWERTOOLS_READY),
    "idemlock ready to call, boto3 + client already loaded": (_BOTO3_CLIENT, _IDEMLOCK_READY),
    "powertools ready to call, boto3 + client already loaded": (_BOTO3_CLIENT, _POWERTOOLS_READY),
    "idemlock import + store + decorated handler, boto3 already imported": (
        "import boto3",
        _IDEMLOCK_HANDLER,
    ),
    "powertools import + layer + decorated handler, boto3 already imported": (
        "import boto3",
        _POWERTOOLS_HANDLER,
    ),
    "wrapt import, boto3 already imported": ("import boto3", "import wrapt"),
    "idemlock's own modules: store + decorated handler, boto3 and wrapt already imported": (
        "import boto3, wrapt",
        _IDEMLOCK_HANDLER,
    ),
    "idemlock's own modules: store + S3-keyed handler, boto3 and wrapt already imported": (
        "import boto3, wrapt",
        _IDEMLOCK_S3_HANDLER,
    ),
}
"""What each fresh interpreter runs: ``(untimed setup, timed statement)``. Powertools makes its
boto3 client in the layer's constructor; idemlock makes its botocore client on first use, so it is
shown both ways. The last two rows are the cost on top of a handler that already uses boto3, as
most Lambda handlers do (idemlock's client then reuses the service models boto3 loaded). The
"decorated handler" rows are the issue's target: what the library adds to ``import boto3`` at a
handler module's import, before the first call. The wrapt rows split that figure: what the
decorator library costs (wrapt 2 imports asyncio and importlib.metadata), and what idemlock's own
modules add once boto3 and wrapt are loaded; the last row with the one event source it keys by."""

_CHILD = """
import json, sys, time
{setup}
modules = len(sys.modules)
sys.stderr.write("--measure--\\n"); sys.stderr.flush()
start = time.perf_counter()
{statement}
elapsed = time.perf_counter() - start
print(json.dumps({{"ms": elapsed * 1000, "modules": len(sys.modules) - modules}}))
"""

_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")


def _run(setup: str, statement: str, pycache: str) -> dict[str, float]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPYCACHEPREFIX": pycache,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _CHILD.format(setup=setup, statement=statement)],
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
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="idemlock-bench-pycache-") as pycache:
        for setup, statement in VARIANTS.values():
            _run(setup, statement, pycache)  # compiles bytecode, warms caches; untimed
        for _ in range(runs):
            for name, (setup, statement) in VARIANTS.items():  # interleaved
                samples[name].append(_run(setup, statement, pycache))
    results: dict[str, Any] = {"runs": runs, "variants": {}}
    for name, rows in samples.items():
        results["variants"][name] = {
            "setup": VARIANTS[name][0],
            "statement": VARIANTS[name][1],
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
        "idemlock_on_top_of_boto3_ms": median(
            "idemlock ready to call, boto3 + client already loaded"
        ),
        "powertools_on_top_of_boto3_ms": median(
            "powertools ready to call, boto3 + client already loaded"
        ),
        "idemlock_handler_on_top_of_boto3_import_ms": median(
            "idemlock import + store + decorated handler, boto3 already imported"
        ),
        "powertools_handler_on_top_of_boto3_import_ms": median(
            "powertools import + layer + decorated handler, boto3 already imported"
        ),
        "ratio_ready_idemlock_to_powertools": median("idemlock ready to call (+ its client)")
        / median("powertools idempotency import + DynamoDBPersistenceLayer"),
    }
    return results
