"""Odd dates and characters in the pages' queries and forms are refused with a 422 that says
why, never answered with a server error: dates outside the calendar's bounds, a moment
without its time zone, a character a mail cannot carry."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from closeout.db import Database
from closeout.domain import Role
from closeout.tokens import create_token
from tests.api.conftest import KIM, SAM, Scene, sign_in

BOUNDS = "dates run from 1900-01-01 to 2999-12-31"


def _refused(answer: httpx.Response, why: str) -> None:
    assert answer.status_code == 422, answer.text
    assert why in answer.text


@pytest.mark.parametrize(
    "query", ["until=0001-01-01", "since=0001-01-01", "until=9999-12-31", "since=1899-12-31"]
)
def test_the_insights_refuse_a_day_outside_the_calendar(
    client: TestClient, db: Database, scene: Scene, query: str
) -> None:
    token = create_token(db, SAM, Role.ACCOUNT_MANAGER)
    answer = client.get(f"/api/insights?{query}", headers={"Authorization": f"Bearer {token}"})
    _refused(answer, BOUNDS)
    sign_in(client, KIM)
    for page in ("/insights", "/insights.csv"):
        answer = client.get(f"{page}?{query}")
        _refused(answer, BOUNDS)
    # At the earliest day allowed, the report answers (a year from it, within its own limit).
    assert client.get("/insights?since=1900-01-01&until=1901-01-01").status_code == 200


@pytest.mark.parametrize("page", ["/compliance/audit", "/compliance/audit.csv"])
def test_the_audit_search_refuses_a_day_outside_the_calendar(
    client: TestClient, scene: Scene, page: str
) -> None:
    sign_in(client, KIM)
    answer = client.get(f"{page}?until=9999-12-31")
    _refused(answer, BOUNDS)
    assert client.get(f"{page}?until=2999-12-31").status_code == 200


def test_the_retention_pages_cursor_needs_its_time_zone(client: TestClient, scene: Scene) -> None:
    sign_in(client, KIM)
    answer = client.get("/compliance?after=2020-01-01T00:00:00&after_id=x")
    _refused(answer, "timezone")
    answer = client.get("/compliance?after=0001-01-01T00:00:00Z&after_id=x")
    _refused(answer, "times run from 1900-01-01 to 2999-12-31")
    assert client.get("/compliance?after=2020-01-01T00:00:00Z&after_id=x").status_code == 200


def test_a_form_refuses_what_the_json_api_refuses_on_the_same_page(
    client: TestClient, db: Database, scene: Scene
) -> None:
    csrf = sign_in(client, KIM)
    # A reason the customer is mailed, holding a control character: the case's page again,
    # the rule named (the JSON route answers the same 422).
    answer = client.post(
        f"/cases/{scene.li_case}/request-extension",
        data={"csrf_token": csrf, "until": "2030-01-01", "reason": "ab\x01c"},
    )
    _refused(answer, "reason: the reason holds characters a mail")
    token = create_token(db, KIM, Role.COMPLIANCE_OFFICER)
    answer = client.post(
        f"/api/cases/{scene.li_case}/request-extension",
        headers={"Authorization": f"Bearer {token}"},
        json={"until": "2030-01-01T00:00:00Z", "reason": "ab\x01c"},
    )
    assert answer.status_code == 422
    # A form's date outside the calendar's bounds.
    for path, field in (
        (f"/cases/{scene.li_case}/retention", "retention_end"),
        (f"/cases/{scene.li_case}/legal-holds", "review_on"),
        (f"/cases/{scene.li_case}/request-extension", "until"),
    ):
        answer = client.post(
            path, data={"csrf_token": csrf, field: "9999-12-31", "reason": "checked"}
        )
        _refused(answer, BOUNDS)
