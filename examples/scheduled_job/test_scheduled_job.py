"""scheduled_job on DynamoDB Local: one report per scheduled time, however often it is delivered.

The lock table and the reports table are on DynamoDB Local; the events are EventBridge scheduled
events (tests/events/eventbridge-scheduled.json) with the time and the event ID varied. A failure
is injected into the handler's own DynamoDB client, at the report write, the first time only.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

import scheduled_job.handler as app
from idemlock import DynamoDBStore, LockStatus
from idemlock.testing import LambdaContext
from tests.aws import create_app_table, fresh_table, make_client, use_local_aws
from tests.sources_helpers import load_event

RULE = "arn:aws:events:us-east-1:123456789012:rule/hourly-report"


@dataclass
class Tables:
    """The tables of one test, on DynamoDB Local, and a client to look at them."""

    client: Any
    locks: DynamoDBStore
    reports: str


@pytest.fixture
def tables(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tables]:
    """A fresh lock table and reports table; the handler configured for them."""
    use_local_aws(monkeypatch, dynamodb_local)
    client = make_client(dynamodb_local)
    reports = create_app_table(client, "reports", "report_id")  # as template.yaml declares it
    locks = fresh_table(dynamodb_local)
    monkeypatch.setenv("IDEMLOCK_TABLE", locks.table_name)
    monkeypatch.setenv(app.REPORTS_TABLE_ENV, reports)
    app.dynamodb.cache_clear()  # a client made under this test's environment
    yield Tables(client, locks, reports)
    app.dynamodb.cache_clear()  # and none left behind, with this test's failure hooks


def scheduled_event(time: str) -> dict[str, Any]:
    """The rule's scheduled event for ``time``, as one delivery: each call has a new event ID."""
    event = load_event("eventbridge-scheduled.json")
    event |= {"id": str(uuid.uuid4()), "time": time, "resources": [RULE]}
    return event


def reports_by_period_end(tables: Tables) -> Counter[str]:
    """How many reports were written for each period, by the period's end."""
    items = tables.client.scan(TableName=tables.reports, ConsistentRead=True)["Items"]
    return Counter(item["period_end"]["S"] for item in items)


def throttled(operation: str) -> ClientError:
    """The error botocore raises for a request DynamoDB keeps throttling (after its retries)."""
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "injected by the test"}}, operation
    )


def test_a_scheduled_time_delivered_twice_runs_once(tables: Tables) -> None:
    """Two deliveries of one scheduled time (different event IDs) write one report; the second
    gets the first's result back."""
    first = app.handler(scheduled_event("2026-11-20T03:00:00Z"), LambdaContext())
    second = app.handler(scheduled_event("2026-11-20T03:00:00Z"), LambdaContext())

    assert second == first
    assert first["period_start"] == "2026-11-20T02:00:00+00:00"
    assert reports_by_period_end(tables) == {"2026-11-20T03:00:00+00:00": 1}


def test_the_next_scheduled_time_runs_again(tables: Tables) -> None:
    """The next hour is a new key: it writes its own report, once however often it comes."""
    at_three = app.handler(scheduled_event("2026-11-20T03:00:00Z"), LambdaContext())
    at_four = app.handler(scheduled_event("2026-11-20T04:00:00Z"), LambdaContext())
    app.handler(scheduled_event("2026-11-20T04:00:00Z"), LambdaContext())

    assert at_four["report_id"] != at_three["report_id"]
    assert at_four["period_start"] == "2026-11-20T03:00:00+00:00"
    assert reports_by_period_end(tables) == {
        "2026-11-20T03:00:00+00:00": 1,
        "2026-11-20T04:00:00+00:00": 1,
    }


def test_a_failed_run_leaves_no_lock_and_its_redelivery_runs(tables: Tables) -> None:
    """The job's error reaches Lambda unchanged (so Lambda retries), the lock table is left
    empty, and the retried event writes the report once."""
    event = scheduled_event("2026-11-20T03:00:00Z")

    def throttle(**_: Any) -> None:
        app.dynamodb().meta.events.unregister("before-parameter-build.dynamodb.PutItem", throttle)
        raise throttled("PutItem")

    app.dynamodb().meta.events.register("before-parameter-build.dynamodb.PutItem", throttle)
    with pytest.raises(ClientError, match="injected by the test"):
        app.handler(event, LambdaContext())

    assert list(tables.locks.scan()) == []
    assert reports_by_period_end(tables) == {}

    report = app.handler(event, LambdaContext())

    assert reports_by_period_end(tables) == {"2026-11-20T03:00:00+00:00": 1}
    [lock] = tables.locks.scan()
    assert lock.status is LockStatus.COMPLETED
    assert lock.key == f"{app.NAMESPACE}#{RULE}#2026-11-20T03:00:00Z"
    assert lock.attempts == 1
    assert app.handler(scheduled_event("2026-11-20T03:00:00Z"), LambdaContext()) == report
