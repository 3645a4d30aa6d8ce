"""An ``on_event`` sink that counts idemlock's transitions as CloudWatch metrics.

The metrics are written in CloudWatch's Embedded Metric Format (EMF) on stdout: inside Lambda,
CloudWatch Logs turns each line into metrics, so dashboards and alarms need no agent and no
``PutMetricData`` call. The format is Powertools' ``Metrics`` utility's (install
``idemlock[metrics]``), not hand-written; AWS's ``aws-embedded-metrics`` library would add about
150 ms and aiohttp to a cold start, Powertools' metrics about 20 ms on top of boto3, and only when
a sink is made (measured in benchmarks/README.md)::

    from idemlock.metrics import CloudWatchMetrics

    @idempotent(key_fn, on_event=CloudWatchMetrics(service="orders"))
    def handler(event, context): ...

One metric per event kind (``Claims``, ``Duplicates``, ``Takeovers``, ``LockLosses``,
``StoreErrors``, ...; :data:`METRIC_NAMES`) counted 1 per transition, and ``BodyDuration``
in milliseconds for each body that ended. Without ``metrics=``, each event is flushed as one EMF
line at once. With the ``Metrics`` object of a handler decorated with ``@metrics.log_metrics``,
idemlock's counts join the handler's own and are flushed with them at the end of the invocation.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final

from idemlock.errors import ConfigurationError
from idemlock.events import EventKind, LockEvent

if TYPE_CHECKING:
    from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics

__all__ = ["METRIC_NAMES", "CloudWatchMetrics"]

METRIC_NAMES: Final[dict[EventKind, str]] = {
    "claimed": "Claims",
    "taken_over": "Takeovers",
    "duplicate": "Duplicates",
    "in_progress": "InProgressRefusals",
    "payload_mismatch": "PayloadMismatches",
    "completed": "Completions",
    "released": "Releases",
    "extended": "LeaseExtensions",
    "lock_lost": "LockLosses",
    "store_error": "StoreErrors",
}
"""The metric each event kind counts."""

BODY_DURATION: Final = "BodyDuration"


class CloudWatchMetrics:
    """Count every :class:`~idemlock.events.LockEvent` as a CloudWatch metric (EMF on stdout).

    Args:
        namespace: the CloudWatch namespace of the metrics (default ``idemlock``).
        service: the ``service`` dimension (default: Powertools' ``POWERTOOLS_SERVICE_NAME``).
        metrics: a Powertools ``Metrics`` (or ``EphemeralMetrics``) to add to, flushed by its
            owner (``@metrics.log_metrics``); without it, a private one flushed per event.

    """

    def __init__(
        self,
        *,
        namespace: str = "idemlock",
        service: str | None = None,
        metrics: Metrics | EphemeralMetrics | None = None,
    ) -> None:
        try:
            # Deferred: only a handler that makes this sink pays for Powertools' metrics.
            from aws_lambda_powertools.metrics import (  # noqa: PLC0415
                EphemeralMetrics,
                MetricUnit,
            )
        except ImportError as exc:
            raise ConfigurationError(
                "CloudWatchMetrics writes through Powertools' metrics utility: "
                "pip install 'idemlock[metrics]'"
            ) from exc
        self._units = (MetricUnit.Count, MetricUnit.Milliseconds)
        self._flush = metrics is None
        # EphemeralMetrics keeps its own metric set: Metrics instances share one, and flushing
        # ours would flush (and clear) the handler's own metrics with it.
        self._metrics: Any = (
            EphemeralMetrics(namespace=namespace, service=service) if metrics is None else metrics
        )
        self._lock = threading.Lock()  # a heartbeat's thread reports too; Metrics is not safe

    def __call__(self, event: LockEvent) -> None:
        """Count ``event`` (and its body's duration); flush it when the sink owns its metrics."""
        count, milliseconds = self._units
        with self._lock:
            self._metrics.add_metric(name=METRIC_NAMES[event.kind], unit=count, value=1)
            if event.duration_ms is not None and event.kind in ("completed", "released"):
                self._metrics.add_metric(
                    name=BODY_DURATION, unit=milliseconds, value=event.duration_ms
                )
            if self._flush:
                self._metrics.flush_metrics()
