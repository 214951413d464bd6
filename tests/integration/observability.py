"""What an operator sees of a case that ran on the real stack: both metrics endpoints scraped
as Prometheus scrapes them, and the worker's JSON log lines."""

from __future__ import annotations

import json

import httpx
from prometheus_client.parser import text_string_to_metric_families

from activities.metrics import Counted
from tests.integration.stack import Stack
from tests.observability.monitoring import SDK_FAILURE_COUNTERS, referenced_metrics

METRICS_TOKEN = "scrape-" + "x" * 40


def scrape(
    url: str, token: str | None = None
) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of a metrics page: name -> labels -> value."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers, timeout=10)
    response.raise_for_status()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def total(
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **match: str
) -> float:
    """The sum of `name`'s samples whose labels include `match`."""
    return sum(
        value
        for labels, value in samples.get(name, {}).items()
        if set(match.items()) <= set(labels)
    )


def assert_case_observed(stack: Stack, customer: str, case_id: str) -> None:
    """After a whole case to its deletion: the API's and the worker's metrics count it, and the
    worker's log lines are JSON, with no address in them."""
    api_url = f"{stack.api_url}/metrics"
    assert httpx.get(api_url, timeout=10).status_code == 401
    assert httpx.get(api_url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    api = scrape(api_url, METRICS_TOKEN)
    assert (
        total(api, "closeout_http_requests_total", route="/api/cases/{case_id}", method="GET") > 0
    )
    assert total(api, "closeout_http_requests_total", route="/api/cases", status="201") >= 1
    # Route templates only: no case id ever becomes a label.
    assert not any(case_id in str(labels) for series in api.values() for labels in series)
    assert total(api, "closeout_http_request_duration_seconds_count", route="/api/cases") >= 1
    assert total(api, "closeout_cases", stage="closed") >= 1
    assert total(api, "closeout_deletion_certificates") >= 1
    assert total(api, "closeout_notices", status="sent") >= 4
    for gauge in ("closeout_tasks_open", "closeout_tasks_overdue", "closeout_legal_holds_active"):
        assert gauge in api, gauge
    assert "closeout_case_stage_age_seconds" in api

    worker = scrape(f"http://{stack.env['CLOSEOUT_WORKER_METRICS_ADDRESS']}/metrics")
    assert total(worker, "closeout_notices_sent_total") >= 4
    assert total(worker, "closeout_deletions_total") >= 5
    # Temporal's own: task latencies, slots, failures.
    assert (
        total(worker, "temporal_activity_execution_latency_count", activity_type="verify_deletion")
        >= 1
    )
    assert total(worker, "temporal_workflow_task_execution_latency_count") > 0
    assert "temporal_worker_task_slots_available" in worker
    assert not any(customer in str(labels) for series in worker.values() for labels in series)

    # Every series the shipped dashboard and alerts read is one these processes serve (or a
    # counter that appears at its first event).
    served = set(api) | set(worker) | {f"{c.value}_total" for c in Counted} | SDK_FAILURE_COUNTERS
    assert referenced_metrics() <= served, referenced_metrics() - served

    lines = [
        line
        for line in (stack.root / "worker.log").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert not any("@example." in line for line in lines)
