"""Unit tests for :mod:`idemlock.sources.eventbridge`: event IDs and scheduled runs."""

from __future__ import annotations

from typing import Any

import pytest

from idemlock.errors import EventError
from idemlock.sources import eventbridge
from tests.delivered_events import s3_eventbridge, scheduler_event
from tests.sources_helpers import load_event

RULE = "arn:aws:events:ap-northeast-1:123456789012:rule/nightly-report"


def test_event_id_is_the_event_id() -> None:
    """event_id returns the event's ``id``; the Lambda context is ignored."""
    event = load_event("eventbridge-scheduled")
    assert eventbridge.event_id(event) == "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"
    assert eventbridge.event_id(event, object()) == "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"


def test_scheduled_run_is_rule_and_time() -> None:
    """scheduled_run keys the sample by its rule ARN and scheduled time."""
    event = load_event("eventbridge-scheduled")
    assert eventbridge.scheduled_run(event) == f"{RULE}#2026-11-20T03:00:00Z"


def test_double_fired_schedule_has_one_key() -> None:
    """Two deliveries of one scheduled time (different ids) share scheduled_run, not event_id."""
    first = load_event("eventbridge-scheduled")
    second = load_event("eventbridge-scheduled")
    second["id"] = "7bf73129-1428-4cd3-a780-95db273d1602"
    assert eventbridge.scheduled_run(first) == eventbridge.scheduled_run(second)
    assert eventbridge.event_id(first) != eventbridge.event_id(second)


def test_next_scheduled_time_has_another_key() -> None:
    """The next firing of the schedule is a new run."""
    first = load_event("eventbridge-scheduled")
    second = load_event("eventbridge-scheduled")
    second["time"] = "2026-11-21T03:00:00Z"
    assert eventbridge.scheduled_run(first) != eventbridge.scheduled_run(second)


def test_scheduled_run_errors_name_eventbridge() -> None:
    """EventBridge errors report the source as "eventbridge" (its events have no eventSource)."""
    event = load_event("eventbridge-scheduled")
    event["resources"] = []
    with pytest.raises(EventError) as caught:
        eventbridge.scheduled_run(event)
    assert caught.value.path == "resources"
    assert caught.value.source == "eventbridge"


def test_scheduled_run_accepts_an_eventbridge_scheduler_event() -> None:
    """An EventBridge Scheduler firing is a schedule too: keyed by schedule ARN and time."""
    event = scheduler_event()
    assert eventbridge.scheduled_run(event) == (
        "arn:aws:scheduler:ap-northeast-1:123456789012:schedule/default/nightly"
        "#2026-11-20T03:00:00Z"
    )


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (s3_eventbridge(), "'aws.s3' 'Object Created'"),
        ({**load_event("eventbridge-scheduled"), "source": "my.app"}, "'my.app' 'Scheduled Event'"),
        (
            {**load_event("eventbridge-scheduled"), "detail-type": "Order Placed"},
            "'aws.events' 'Order Placed'",
        ),
        ({"resources": [RULE], "time": "2026-11-20T03:00:00Z"}, "None None"),
    ],
    ids=["s3-object-created", "custom-source", "custom-detail-type", "no-source"],
)
def test_scheduled_run_refuses_events_that_are_not_schedules(
    event: dict[str, Any], named: str
) -> None:
    """Any other EventBridge event (an S3 "Object Created" in the same second, a custom event)
    is an EventError naming what it is, never a schedule key that would merge two events."""
    with pytest.raises(EventError) as caught:
        eventbridge.scheduled_run(event)
    assert caught.value.path == "detail-type"
    assert named in str(caught.value)
    assert "event_id" in str(caught.value)


def test_two_s3_events_in_one_second_are_not_merged_by_scheduled_run() -> None:
    """The bug: two "Object Created" events of one bucket in one second had one key."""
    first = s3_eventbridge("a.csv")
    second = s3_eventbridge("b.csv")
    second["id"] = "another-event"
    assert first["resources"] == second["resources"]
    assert first["time"] == second["time"]
    for event in (first, second):
        with pytest.raises(EventError):
            eventbridge.scheduled_run(event)
    assert eventbridge.event_id(first) != eventbridge.event_id(second)
