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

Stack ``@metrics.log_metrics`` above ``@idempotent``: its flush then follows every event of the
call, a duplicate's too. Below, it flushes when the body ends, before ``Completions``, and never
for a duplicate (whose body does not run). The sink recognises that order when a body has run
(the claim it counted was flushed inside the body), says so once on the ``idemlock`` logger, and
from then on flushes the counts of each call itself when the call ends.
"""

from __future__ import annotations

import logging
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
    "outcome_unknown": "OutcomeUnknownRefusals",
    "step_recorded": "StepsRecorded",
    "step_replayed": "StepsReplayed",
}
"""The metric each event kind counts."""

BODY_DURATION: Final = "BodyDuration"

_BEFORE_BODY: Final[frozenset[EventKind]] = frozenset({"claimed", "taken_over"})
"""A body follows: a ``log_metrics`` below ``@idempotent`` flushes these with the body's."""

_DURING_BODY: Final[frozenset[EventKind]] = frozenset({"extended"})
"""Reported while the body runs (often from a heartbeat's thread): never flushed on their own."""

logger = logging.getLogger("idemlock")


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
        self._flush_each = metrics is None
        self._flush_at_end = False  # set once log_metrics is seen below @idempotent
        self._claim_counted: str | None = None  # the claim's metric, until its call ends
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
            if self._flush_each:
                self._metrics.flush_metrics()
            elif event.kind in _BEFORE_BODY:
                self._claim_counted = METRIC_NAMES[event.kind]
            elif event.kind not in _DURING_BODY:
                self._end_call()

    def _end_call(self) -> None:
        """At the end of a call: flush its counts if no ``log_metrics`` flush is still to come.

        The claim counted before the body, gone from the handler's metrics at the end of the
        call, was flushed inside the body: ``log_metrics`` sits below ``@idempotent``.
        """
        claim, self._claim_counted = self._claim_counted, None
        if not self._flush_at_end and claim is not None and claim not in self._metrics.metric_set:
            self._flush_at_end = True
            logger.warning(
                "CloudWatchMetrics: @metrics.log_metrics sits below @idempotent, so it flushes "
                "before idemlock's counts and never on a duplicate; idemlock now flushes them "
                "itself at the end of each call. Stack @metrics.log_metrics above @idempotent "
                "to have them in the handler's own line"
            )
        if self._flush_at_end:
            self._metrics.flush_metrics()
