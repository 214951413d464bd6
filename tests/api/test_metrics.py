"""`GET /metrics`: who may scrape it, and what it holds (requests by route template and status,
their latency, and the read model's gauges), parsed as Prometheus parses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.app import create_app
from closeout.db import Database
from closeout.domain import Role
from closeout.settings import Settings
from closeout.tokens import create_token
from tests.api.conftest import KIM, Scene

TOKEN = "metrics-" + "t" * 40
Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


def _samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return found


def _value(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for k, v in samples.get(name, {}).items() if set(labels.items()) <= k)


@pytest.fixture
def scraped(settings: Settings) -> Iterator[TestClient]:
    production = settings.model_copy(update={"dev_mode": False, "metrics_token": SecretStr(TOKEN)})
    with TestClient(create_app(production), follow_redirects=False) as c:
        yield c


def test_outside_dev_mode_metrics_are_off_without_a_token(settings: Settings) -> None:
    production = settings.model_copy(update={"dev_mode": False, "metrics_token": None})
    with TestClient(create_app(production)) as c:
        response = c.get("/metrics")
    assert response.status_code == 404
    assert "CLOSEOUT_METRICS_TOKEN" in response.json()["detail"]


def test_only_the_token_reads_them(scraped: TestClient, db: Database, scene: Scene) -> None:
    assert scraped.get("/metrics").status_code == 401
    assert scraped.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert scraped.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    # A person's API token is not the scrape token, whatever their role.
    staff = create_token(db, KIM, Role.COMPLIANCE_OFFICER)
    assert scraped.get("/metrics", headers={"Authorization": f"Bearer {staff}"}).status_code == 401
    ok = scraped.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain")


def test_in_dev_mode_they_are_open(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200


def test_requests_are_counted_by_route_template_and_status(
    scraped: TestClient, scene: Scene, db: Database
) -> None:
    token = create_token(db, KIM, Role.COMPLIANCE_OFFICER)
    auth = {"Authorization": f"Bearer {token}"}
    assert scraped.get(f"/api/cases/{scene.li_case}", headers=auth).status_code == 200
    assert scraped.get("/api/cases/no-such-case", headers=auth).status_code == 404
    assert scraped.get("/api/cases/no-such-case").status_code == 401
    assert scraped.get("/no/such/page").status_code == 404
    assert scraped.get("/healthz").status_code in (200, 503)
    text = scraped.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    samples = _samples(text)
    requests = "closeout_http_requests_total"
    route = "/api/cases/{case_id}"
    assert _value(samples, requests, method="GET", route=route, status="200") == 1
    assert _value(samples, requests, method="GET", route=route, status="404") == 1
    assert _value(samples, requests, method="GET", route=route, status="401") == 1
    assert _value(samples, requests, route="unmatched", status="404") == 1
    assert _value(samples, requests, route="/healthz") == 1
    latency = "closeout_http_request_duration_seconds_count"
    assert _value(samples, latency, method="GET", route=route) == 3
    assert (
        _value(samples, "closeout_http_request_duration_seconds_bucket", route=route, le="+Inf")
        == 3
    )
    # No id, no path: labels are route templates only.
    assert scene.li_case not in text and "no-such-case" not in text and "/no/such" not in text
    assert "process_cpu_seconds_total" in samples


def test_the_read_model_gauges_count_cases_tasks_and_holds(
    scraped: TestClient, scene: Scene
) -> None:
    samples = _samples(scraped.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
    # The scene: three open cases, four open tasks, Li Na's approval overdue by two hours.
    assert _value(samples, "closeout_read_model_up") == 1
    assert _value(samples, "closeout_cases", stage="opened") == 3
    assert _value(samples, "closeout_cases", stage="retention") == 0
    assert _value(samples, "closeout_tasks_open") == 4
    assert _value(samples, "closeout_tasks_open", kind="approval") == 1
    assert _value(samples, "closeout_tasks_overdue") == 1
    assert _value(samples, "closeout_tasks_overdue", kind="approval") == 1
    assert _value(samples, "closeout_legal_holds_active") == 0
    assert _value(samples, "closeout_deletion_certificates") == 0
    assert 0 <= _value(samples, "closeout_case_stage_age_seconds", stage="opened") < 600
    assert set(_value_labels(samples, "closeout_cases")) >= {"opened", "retention", "closed"}


def _value_labels(samples: Samples, name: str) -> list[str]:
    return [dict(k)["stage"] for k in samples.get(name, {})]


def test_a_database_that_does_not_answer_spoils_only_the_read_model_gauges(
    settings: Settings, tmp_path: Path
) -> None:
    gone = settings.model_copy(
        update={
            "dev_mode": False,
            "metrics_token": SecretStr(TOKEN),
            "database_url": f"sqlite:///{tmp_path}/missing/never/closeout.db",
        }
    )
    app = create_app(gone)
    with TestClient(app) as c:
        app.state.metrics.forget()
        app.state.metrics.watch(Database.from_url(f"sqlite:///{tmp_path}/empty.db"))  # no tables
        response = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    samples = _samples(response.text)
    assert _value(samples, "closeout_read_model_up") == 0
    assert "closeout_cases" not in samples and "process_cpu_seconds_total" in samples
