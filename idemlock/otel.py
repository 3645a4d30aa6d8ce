"""An ``on_event`` adapter that records idemlock's transitions on the current OpenTelemetry span.

Needs ``opentelemetry-api`` (``pip install 'idemlock[otel]'``); with a tracer provider set up
(the OpenTelemetry SDK, the AWS Distro for OpenTelemetry Lambda layer), every transition becomes
a span event named ``idemlock.<kind>`` on the span current at that moment, with the event's fields
as attributes::

    from idemlock.otel import span_events

    @idempotent(key_fn, on_event=span_events)
    def handler(event, context): ...

Without a recording span (no SDK, or outside any span) OpenTelemetry makes this a no-op.
"""

from __future__ import annotations

from typing import Any

from idemlock.errors import ConfigurationError
from idemlock.events import LockEvent

try:
    from opentelemetry import trace
except ImportError as exc:  # pragma: no cover - exercised by the import check in the tests
    raise ConfigurationError(
        "idemlock.otel records span events through opentelemetry-api: pip install 'idemlock[otel]'"
    ) from exc

__all__ = ["span_events"]


def span_events(event: LockEvent) -> None:
    """Add ``event`` to the current span as ``idemlock.<kind>``, its fields as attributes."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    attributes: dict[str, Any] = {
        "idemlock.key": event.key,
        "idemlock.namespace": event.namespace,
        "idemlock.cached": event.cached,
    }
    if event.fence is not None:
        attributes["idemlock.fence"] = event.fence
    if event.attempt is not None:
        attributes["idemlock.attempt"] = event.attempt
    if event.duration_ms is not None:
        attributes["idemlock.duration_ms"] = event.duration_ms
    if event.error is not None:
        attributes["idemlock.error"] = f"{type(event.error).__name__}: {event.error}"
    span.add_event(f"idemlock.{event.kind}", attributes=attributes)
