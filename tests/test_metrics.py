"""CloudWatchMetrics given a handler's Powertools ``Metrics``, stacked with ``@metrics.log_metrics``
above or below ``@idempotent``: every invocation flushes its own counts, duplicates too."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.metrics import Metrics, MetricUnit

from idemlock import idempotent
from idemlock.metrics import CloudWatchMetrics
from idemlock.testing import LambdaContext, MemoryStore

Handler = Callable[[dict[str, Any], object], Any]


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    """A handler's Metrics; Powertools shares one metric set between instances: start empty."""
    made = Metrics(namespace="orders-app", service="orders")
    made.clear_metrics()
    yield made
    made.clear_metrics()


def guarded(metrics: Metrics) -> Callable[[Handler], Handler]:
    """@idempotent on a fresh store, counting into the handler's metrics."""
    return idempotent(
        lambda event, context: event["id"],
        store=MemoryStore(),
        namespace="orders",
        on_event=CloudWatchMetrics(metrics=metrics),
    )


def stack(metrics: Metrics, order: str) -> Handler:
    """A handler adding its own metric, with log_metrics above (outer) or below @idempotent."""
    guard = guarded(metrics)

    def handler(event: dict[str, Any], context: object) -> str:
        metrics.add_metric(name="Orders", unit=MetricUnit.Count, value=1)
        return "charged"

    if order == "outer":
        return metrics.log_metrics(guard(handler))
    return guard(metrics.log_metrics(handler))


def invoke(handler: Handler, event: dict[str, Any]) -> dict[str, float]:
    """Call the handler once; the total of each metric the invocation printed as EMF."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        handler(event, LambdaContext())
    totals: dict[str, float] = {}
    for line in out.getvalue().splitlines():
        document = json.loads(line)
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            values = document[metric["Name"]]
            total = sum(values) if isinstance(values, list) else values
            totals[metric["Name"]] = totals.get(metric["Name"], 0) + total
    return totals


@pytest.mark.parametrize("order", ["outer", "inner"])
def test_each_invocation_flushes_its_own_counts_in_either_order(
    metrics: Metrics, order: str
) -> None:
    """A first run flushes Claims, the handler's metric and Completions in its own invocation; a
    duplicate (whose body, and so an inner log_metrics, never runs) flushes Duplicates in its
    own; nothing is left over for a later invocation to report. (The inner order is recognised
    once a body has run in the container; see docs/operating.md.)"""
    handler = stack(metrics, order)

    first = invoke(handler, {"id": "o-1"})
    assert {name: first[name] for name in ("Claims", "Orders", "Completions")} == {
        "Claims": 1,
        "Orders": 1,
        "Completions": 1,
    }
    assert invoke(handler, {"id": "o-1"}) == {"Duplicates": 1}
    assert invoke(handler, {"id": "o-1"}) == {"Duplicates": 1}
    assert metrics.metric_set == {}


def test_the_outer_order_prints_one_line_and_never_flushes_the_handlers_set_early(
    metrics: Metrics,
) -> None:
    """log_metrics outermost: idemlock's counts join the handler's in its one EMF line, and the
    sink never flushes the handler's set itself (log_metrics(raise_on_empty_metrics=True) would
    then find it empty and raise)."""
    guard = guarded(metrics)

    def charge(event: dict[str, Any], context: object) -> str:
        return "charged"

    handler = metrics.log_metrics(raise_on_empty_metrics=True)(guard(charge))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        handler({"id": "o-1"}, LambdaContext())
        handler({"id": "o-1"}, LambdaContext())
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # one per invocation
    assert "Completions" in json.loads(lines[0])
    assert "Duplicates" in json.loads(lines[1])


def test_the_inner_order_is_told_once(metrics: Metrics, caplog: pytest.LogCaptureFixture) -> None:
    """log_metrics below @idempotent works, and a WARNING says once that the outer order saves a
    line per invocation."""
    handler = stack(metrics, "inner")
    with caplog.at_level(logging.WARNING, logger="idemlock"):
        for _ in range(3):
            invoke(handler, {"id": "o-1"})
            invoke(handler, {"id": "o-2"})
    warnings = [r for r in caplog.records if "log_metrics" in r.getMessage()]
    assert len(warnings) == 1
