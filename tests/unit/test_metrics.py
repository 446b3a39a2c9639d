"""The handlers' metric adapter: the core's counts reach Powertools as Count metrics."""

from __future__ import annotations

from aws_lambda_powertools import Metrics

from smartthumb.metrics import CountMetrics


def test_counts_become_powertools_count_metrics() -> None:
    metrics = Metrics(namespace="smartthumb-test", service="unit")
    on_metric = CountMetrics(metrics)
    on_metric("SidecarHit", 1)
    on_metric("SidecarHit", 2)
    on_metric("Rendered")
    blob = metrics.serialize_metric_set()
    definitions = {m["Name"]: m["Unit"] for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert definitions == {"SidecarHit": "Count", "Rendered": "Count"}
    assert blob["SidecarHit"] == [1.0, 2.0]
    assert blob["Rendered"] == [1.0]
    metrics.clear_metrics()
