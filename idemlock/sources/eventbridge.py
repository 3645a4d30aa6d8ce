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


def event_id(event: Mapping[str, Any], context: object = None) -> str:
    """The event's ``id``, which EventBridge keeps across retries of one delivery.

    ``context`` is ignored, so this can be the key function of a ``handler(event, context)``.
    """
    return _event.text(_event.as_mapping(event, source=SOURCE), "id", source=SOURCE)


def scheduled_run(event: Mapping[str, Any], context: object = None) -> str:
    """``ruleARN#time``: a schedule that fires twice for one time runs once.

    A scheduled event names its rule in ``resources[0]`` and the scheduled time in ``time``;
    the two deliveries of a double-fired schedule have different IDs but the same pair.
    """
    checked = _event.as_mapping(event, source=SOURCE)
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
