"""deploy/grafana/pgbridge.json uses only what pgbridge exports: every metric name in its PromQL
is one `/q/metrics` serves (rendered here from a full PipelineState the way the HTTP server
does), with labels that metric has, and counters only through rate/increase."""

from __future__ import annotations

import json

import pytest

from tests.deploy_files import (DASHBOARD, PROMETHEUS_LABELS, bare_counters, exported_metrics, exprs, grouping_labels,
                                metric_names, panels, selector_labels)


@pytest.fixture(scope="module")
def exported() -> dict[str, tuple[str, set[str]]]:
    return exported_metrics()


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_every_metric_the_dashboard_uses_is_exported(dashboard, exported):
    used = {name for expr in exprs(dashboard) for name in metric_names(expr)}
    assert used, "no pgbridge metric found in the dashboard's queries"
    assert used - set(exported) == set(), "the dashboard queries metrics pgbridge does not export"


def test_labels_in_queries_are_the_metrics_own(dashboard, exported):
    for expr in exprs(dashboard):
        for name, labels in selector_labels(expr):
            unknown = labels - exported[name][1] - PROMETHEUS_LABELS
            assert not unknown, f"{expr}: {name} has no label {unknown}"
        offered = set().union(*(exported[n][1] for n in metric_names(expr))) | PROMETHEUS_LABELS
        assert grouping_labels(expr) <= offered, expr


def test_counters_are_read_as_rates(dashboard, exported):
    counters = {name for name, (kind, _) in exported.items() if kind == "counter"}
    for expr in exprs(dashboard):
        if expr.startswith("label_values("):
            continue  # a variable's query reads label values, not samples
        assert bare_counters(expr, counters) == set(), expr


def test_the_check_sees_names_labels_and_bare_counters():
    expr = 'sum by (instance) (rate(pgbridge_a_total{producer="0"}[5m])) + pgbridge_a_total - pgbridge_b{x=~"y"}'
    assert metric_names(expr) == {"pgbridge_a_total", "pgbridge_b"}
    assert selector_labels(expr) == [("pgbridge_a_total", {"producer"}), ("pgbridge_b", {"x"})]
    assert grouping_labels(expr) == {"instance"}
    assert bare_counters(expr, {"pgbridge_a_total"}) == {"pgbridge_a_total"}


def test_dashboard_shape(dashboard):
    assert dashboard["schemaVersion"] >= 39
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all('instance=~"$instance"' in t["expr"] for t in panel["targets"]), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    cells = [(p["gridPos"]["y"] + dy, p["gridPos"]["x"] + dx) for p in panels(dashboard)
             for dy in range(p["gridPos"]["h"]) for dx in range(p["gridPos"]["w"])]
    assert len(cells) == len(set(cells)), "panels overlap"
