"""The metric registry: task specs name metrics by key; each key maps to one function here.

A metric is a function ``(context, metric_spec) -> list[MetricValue]`` registered with
:func:`metric`. Its first value carries the key itself; related values are named
``<key>_<detail>`` (see docs/metrics.md). Installed packages may register more metrics by
importing :func:`metric` from here.
"""

from __future__ import annotations

from agent_eval.metrics.registry import (
    MetricContext,
    MetricFunction,
    NotMeasuredError,
    Registered,
    available,
    get_metric,
    metric,
    unmeasured_metrics,
)

__all__ = [
    "MetricContext",
    "MetricFunction",
    "NotMeasuredError",
    "Registered",
    "available",
    "get_metric",
    "metric",
    "unmeasured_metrics",
]
