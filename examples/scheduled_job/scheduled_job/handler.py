"""The Lambda handler (``scheduled_job.handler.handler``): the hourly report, once per hour.

An EventBridge rule with ``rate(1 hour)`` invokes the function asynchronously with a scheduled
event: the rule's ARN in ``resources`` and the scheduled time in ``time``. The same scheduled time
can arrive twice: EventBridge delivers at least once (and the two deliveries carry *different*
event IDs), and Lambda retries a failed asynchronous invocation. So the key is the rule and the
scheduled time (:func:`idemlock.sources.eventbridge.scheduled_run`), not the event ``id``: the
report of one hour is produced once, the next hour's is a new key.

The job here writes a report record for the hour that ended at the scheduled time, with a fresh
report ID, to the reports table: a stand-in for any job whose effect must not happen twice (an
e-mailed summary, an export file, an invoice run). A run that fails leaves no lock behind, so
Lambda's retry of the same event runs it again.

Configuration (the environment, as deployed): ``IDEMLOCK_TABLE`` (the lock table) and
``REPORTS_TABLE``. The DynamoDB client is made on first use, so ``AWS_ENDPOINT_URL_DYNAMODB`` set by
a test or a local run is honoured.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

import boto3

from idemlock import idempotent
from idemlock.sources import eventbridge

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NAMESPACE: Final = "hourly-report"
"""Prefix of this function's keys in the lock table; fixed, so a refactoring keeps them."""

PERIOD: Final = timedelta(hours=1)
"""What one run reports on: the hour up to its scheduled time (the schedule is ``rate(1 hour)``)."""

REPORTS_TABLE_ENV: Final = "REPORTS_TABLE"
"""The environment variable naming the reports table."""

REPORTS_TABLE_ACTIONS: Final = ("dynamodb:PutItem",)
"""Everything this module does to the reports table: the function's role needs exactly this."""


@functools.cache
def dynamodb() -> DynamoDBClient:
    """The DynamoDB client, made on first use and kept for the warm container's later calls."""
    return boto3.client("dynamodb")


@idempotent(eventbridge.scheduled_run, namespace=NAMESPACE)
def handler(event: Mapping[str, Any], context: object) -> dict[str, str]:
    """Write the report of the hour that ended at the event's scheduled time.

    Returns the report's ID and period; a duplicate delivery gets the same answer back, from the
    lock table, without running.
    """
    period_end = scheduled_time(event)
    period_start = period_end - PERIOD
    report = {
        "report_id": uuid.uuid4().hex,
        "period_start": period_start.isoformat(),
        "period_end": period_end.isoformat(),
    }
    dynamodb().put_item(
        TableName=os.environ[REPORTS_TABLE_ENV],
        Item={
            **{name: {"S": value} for name, value in report.items()},
            "rule": {"S": str(event["resources"][0])},
            "created_at": {"S": datetime.now(timezone.utc).isoformat()},
        },
    )
    return report


def scheduled_time(event: Mapping[str, Any]) -> datetime:
    """The event's ``time`` (``2026-11-20T03:00:00Z``) as an aware UTC datetime."""
    text = str(event["time"])
    # Python 3.10's fromisoformat does not read the "Z" suffix EventBridge writes.
    parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return parsed.astimezone(timezone.utc)
