"""Helpers of the ``idemlock`` command's tests: its environment, and lock items to look at.

The fixtures that run the command (``store``, ``idemlock``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from idemlock import DynamoDBStore, idempotent
from idemlock.store import Claim
from idemlock.testing import ManualClock

Run = Callable[..., subprocess.CompletedProcess[str]]
"""``idemlock(*args, stdin=None, **env)``: the command, run as a subprocess."""

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
}


def command_env(**extra: str) -> dict[str, str]:
    """The environment without the developer's AWS and idemlock settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IDEMLOCK_"))}
    return {**env, **CREDENTIALS, **extra}


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    """The command's JSON output; it must have succeeded."""
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def populate(store: DynamoDBStore, clock: ManualClock) -> None:
    """Two completed keys, one released after a failure, one stale and one live claim."""
    done = idempotent(lambda key: key, store=store, namespace="import", clock=clock)
    done(lambda key: {"rows": 3})("a.csv")
    done(lambda key: {"rows": 5})("b.csv")
    with pytest.raises(ValueError, match="bad"):
        done(_fail)("bad.csv")
    hold(store, "jobs#stale", clock, lease=1, age=10)
    hold(store, "jobs#live", clock, lease=600, age=0)


def _fail(key: str) -> None:
    raise ValueError("bad")


def hold(store: DynamoDBStore, key: str, clock: ManualClock, *, lease: float, age: float) -> None:
    """Leave ``key`` IN_PROGRESS as a crashed (or still running) invocation would."""
    now_ms = int((clock() - age) * 1000)
    store.claim(
        Claim(
            key=key,
            owner=uuid.uuid4().hex,
            now_ms=now_ms,
            fence_base=now_ms * 1000,
            lease_expires_at_ms=now_ms + int(lease * 1000),
            expires_at_s=now_ms // 1000 + 3600,
        )
    )


POWERTOOLS_KEY = "orders-fn.lambda_handler#9f86d081884c7d659a2feaa0c55ad015"


def put_powertools_item(store: DynamoDBStore) -> None:
    """An item as Powertools' idempotency writes it: another status word, other attributes."""
    now = int(time.time())
    store.client.put_item(
        TableName=store.table_name,
        Item={
            "id": {"S": POWERTOOLS_KEY},
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(now + 3600)},
            "in_progress_expiration": {"N": str((now + 60) * 1000)},
        },
    )


def put_items(store: DynamoDBStore, count: int, *, oldest_ms: int) -> None:
    """``count`` completed items, claimed a second apart from ``oldest_ms`` on (bulk#00000 is
    the oldest), written in batches."""
    items: list[Any] = [
        {
            "PutRequest": {
                "Item": {
                    "id": {"S": f"bulk#{n:05d}"},
                    "status": {"S": "COMPLETED"},
                    "owner": {"S": "o"},
                    "fence": {"N": str(n + 1)},
                    "claimed_at_ms": {"N": str(oldest_ms + n * 1000)},
                    "completed_at_ms": {"N": str(oldest_ms + n * 1000)},
                    "result": {"S": str(n)},
                }
            }
        }
        for n in range(count)
    ]
    for start in range(0, len(items), 25):
        store.client.batch_write_item(RequestItems={store.table_name: items[start : start + 25]})


UNREADABLE_RESULTS: dict[str, dict[str, Any]] = {
    # Key -> a result attribute idemlock cannot read back, as a corrupted or foreign writer
    # leaves it: binary that is not zlib, text that is not JSON, a tag no version knows.
    "bad#binary": {"B": b"not zlib at all"},
    "bad#text": {"S": "<html>not json</html>"},
    "bad#tag": {"S": '{"__idemlock__":"martian","v":1}'},
}


def put_unreadable_results(store: DynamoDBStore) -> None:
    """Completed idemlock items (one per ``UNREADABLE_RESULTS`` key) whose result was replaced."""
    for key, value in UNREADABLE_RESULTS.items():
        namespace, _, name = key.partition("#")
        idempotent(lambda k: k, store=store, namespace=namespace)(lambda k: {"ok": k})(name)
        overwrite_result(store, key, value)


def overwrite_result(store: DynamoDBStore, key: str, value: dict[str, Any]) -> None:
    """Replace the stored ``result`` attribute of ``key`` with a raw DynamoDB value."""
    store.client.update_item(
        TableName=store.table_name,
        Key=store.item_key(key),
        UpdateExpression="SET #result = :result",
        ExpressionAttributeNames={"#result": store.attributes.result},
        ExpressionAttributeValues={":result": value},
    )
