"""The monitoring files shipped in deploy/: what they read, for the tests that check them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "closeout.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
# Counters the SDK creates at their first failure: absent from a scrape of a worker that has
# seen none.
SDK_FAILURE_COUNTERS = frozenset(
    {
        "temporal_activity_execution_failed_total",
        "temporal_workflow_task_execution_failed_total",
        "temporal_request_failure_total",
    }
)
_METRIC = re.compile(r"\b((?:closeout|temporal)_[a-z_]+)\b")


def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def referenced_metrics() -> set[str]:
    """Every series name the dashboard and the alerts read."""
    return {m for expr in dashboard_exprs() + alert_exprs() for m in _METRIC.findall(expr)}
