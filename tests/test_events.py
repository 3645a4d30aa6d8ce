"""Transitions as events: the logger's records, the CloudWatch metrics sink, OpenTelemetry."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from idemlock.events import EVENT_KINDS, LEVELS, LockEvent, log
from idemlock.metrics import METRIC_NAMES, CloudWatchMetrics
from idemlock.otel import span_events


def test_every_kind_has_a_metric_name() -> None:
    """One metric per event kind, and no metric for a kind that does not exist."""
    assert set(METRIC_NAMES) == set(EVENT_KINDS)
    assert len(set(METRIC_NAMES.values())) == len(EVENT_KINDS)


def test_every_kind_has_a_level() -> None:
    """Each kind is logged at a level, and no level is kept for a kind that does not exist (the
    levels live apart from the kinds, in idemlock._levels, so that emit reads them without
    loading this module)."""
    assert set(LEVELS) == set(EVENT_KINDS)


@pytest.mark.parametrize(
    ("kind", "level"),
    [
        ("claimed", logging.DEBUG),
        ("duplicate", logging.DEBUG),
        ("taken_over", logging.INFO),
        ("lock_lost", logging.WARNING),
        ("store_error", logging.WARNING),
    ],
)
def test_events_are_logged_with_structured_fields(
    kind: Any, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG on the hot path, INFO for takeovers, WARNING for trouble; fields as ``extra``."""
    with caplog.at_level(logging.DEBUG, logger="idemlock"):
        log(LockEvent(kind, "orders#o-1", "orders", fence=7, attempt=2))
    (record,) = caplog.records
    assert record.levelno == level
    assert record.__dict__["idemlock_kind"] == kind
    assert record.__dict__["idemlock_key"] == "orders#o-1"
    assert record.__dict__["idemlock_fence"] == 7
    assert record.__dict__["idemlock_attempt"] == 2


def emf_lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def check_emf(document: dict[str, Any]) -> None:
    """The documented EMF structure: _aws.Timestamp, CloudWatchMetrics directives, values."""
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int)
    (directive,) = meta["CloudWatchMetrics"]
    assert directive["Namespace"] == "idemlock"
    for dimension_set in directive["Dimensions"]:
        for dimension in dimension_set:
            assert isinstance(document[dimension], str)
    for metric in directive["Metrics"]:
        assert metric["Unit"] in ("Count", "Milliseconds")
        assert metric["Name"] in document


def test_the_metrics_sink_writes_valid_emf_and_counts_a_duplicate_storm(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """100 duplicates and one completed body: 100 Duplicates, 1 Completions, its duration."""
    sink = CloudWatchMetrics(service="orders")
    sink(LockEvent("claimed", "orders#o-1", "orders", fence=1, attempt=1))
    sink(LockEvent("completed", "orders#o-1", "orders", fence=1, attempt=1, duration_ms=12.5))
    for _ in range(100):
        sink(LockEvent("duplicate", "orders#o-1", "orders"))

    documents = emf_lines(capsys.readouterr().out)
    for document in documents:
        check_emf(document)
    totals: dict[str, float] = {}
    for document in documents:
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            values = document[metric["Name"]]
            totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(
                values if isinstance(values, list) else [values]
            )
    assert totals == {"Claims": 1, "Completions": 1, "BodyDuration": 12.5, "Duplicates": 100}


def test_the_metrics_sink_adds_to_a_handlers_own_metrics_without_flushing() -> None:
    """Given the handler's Metrics, idemlock's counts wait for the handler's own flush."""
    from aws_lambda_powertools.metrics import EphemeralMetrics  # noqa: PLC0415

    metrics = EphemeralMetrics(namespace="idemlock", service="orders")
    sink = CloudWatchMetrics(metrics=metrics)
    for _ in range(3):
        sink(LockEvent("duplicate", "orders#o-1", "orders"))
    document: dict[str, Any] = dict(metrics.serialize_metric_set())
    assert document["Duplicates"] == [1.0, 1.0, 1.0]


def test_span_events_land_on_the_current_span() -> None:
    """Each transition becomes an ``idemlock.<kind>`` event with the fields as attributes."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("handler"):
        span_events(LockEvent("claimed", "orders#o-1", "orders", fence=3, attempt=1))
        span_events(LockEvent("completed", "orders#o-1", "orders", fence=3, duration_ms=4.0))
    (span,) = exporter.get_finished_spans()
    assert [event.name for event in span.events] == ["idemlock.claimed", "idemlock.completed"]
    assert span.events[0].attributes is not None
    assert span.events[0].attributes["idemlock.fence"] == 3
    assert span.events[1].attributes is not None
    assert span.events[1].attributes["idemlock.duration_ms"] == 4.0


def test_span_events_outside_a_span_do_nothing() -> None:
    """No recording span (no SDK configured): a no-op, never an error."""
    assert not trace.get_current_span().is_recording()
    span_events(LockEvent("claimed", "orders#o-1", "orders"))
