"""The one adapter from the core's ``on_metric(name, value)`` to Powertools Metrics.

The core counts events through a plain callable so it never depends on
Powertools' metrics; the handlers pass a :class:`CountMetrics`. Keeping the
adapter here (not as a lambda in each handler) means the core never calls
back into a handler module: a request or an upload flows one way.
"""

from __future__ import annotations

from typing import Any


class CountMetrics:
    """``on_metric`` that adds a Count metric to a Powertools ``Metrics`` object."""

    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics

    def __call__(self, name: str, value: float = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
