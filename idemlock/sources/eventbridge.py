"""EventBridge events: keys by event ID, or by rule and scheduled time for scheduled events.

An EventBridge event is delivered alone, not in ``Records``, and carries no ``eventSource``:
errors from this module report the source as ``"eventbridge"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idemlock.errors import EventError
from idemlock.sources import _event

SOURCE = "eventbridge"
"""What :class:`~idemlock.errors.EventError` reports as the source of a malformed event."""

SCHEDULE_SOURCES = frozenset({"aws.events", "aws.scheduler"})
"""Who sends schedules: an EventBridge rule's schedule, and EventBridge Scheduler."""

SCHEDULED_EVENT = "Scheduled Event"
"""The ``detail-type`` of both kinds of schedule."""


def event_id(event: Mapping[str, Any], context: object = None) -> str:
    """The event's ``id``, which EventBridge keeps across retries of one delivery.

    ``context`` is ignored, so this can be the key function of a ``handler(event, context)``.
    """
    return _event.text(_event.as_mapping(event, source=SOURCE), "id", source=SOURCE)


def scheduled_run(event: Mapping[str, Any], context: object = None) -> str:
    """``ruleARN#time``: a schedule that fires twice for one time runs once.

    A scheduled event names its rule (or EventBridge Scheduler schedule) in ``resources[0]`` and
    the scheduled time in ``time``; the two deliveries of a double-fired schedule have different
    IDs but the same pair. Any other event is refused: two of them from one resource in one
    second (two S3 uploads to one bucket) would share that pair.
    """
    checked = _event.as_mapping(event, source=SOURCE)
    sender, kind = checked.get("source"), checked.get("detail-type")
    if sender not in SCHEDULE_SOURCES or kind != SCHEDULED_EVENT:
        raise EventError(
            f"scheduled_run keys only schedules (source aws.events or aws.scheduler, "
            f"detail-type {SCHEDULED_EVENT!r}); this event is {sender!r:.40} {kind!r:.60}: "
            "key it by eventbridge.event_id, or by a field of its detail",
            path="detail-type",
            source=SOURCE,
        )
    resources = _event.optional_field(checked, "resources", source=SOURCE)
    if not _event.is_list(resources) or not resources:
        raise EventError(
            "a scheduled event names its rule in a non-empty 'resources' list; "
            f"got {resources!r:.60}",
            path="resources",
            source=SOURCE,
        )
    rule = resources[0]
    if not isinstance(rule, str) or not rule:
        raise EventError(
            f"expected the rule ARN, got {rule!r:.60}", path="resources[0]", source=SOURCE
        )
    return f"{rule}#{_event.text(checked, 'time', source=SOURCE)}"
