"""What the API publishes about itself, and the bounds it keeps: paging, evidence, docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.evidence import EVIDENCE_MODELS
from api.paging import MAX_OFFSET
from api.schemas import WebhookTrigger
from closeout.db import Database
from closeout.demo import seed_demo, seed_demo_users
from closeout.domain import Role, Trigger
from closeout.settings import Settings
from closeout.tokens import create_token
from closeout.users.accounts import Accounts
from tests.api.conftest import KIM, ReadModel, sign_in
from tests.conftest import make_settings
from tests.support import MailSink

# Past 2^63 - 1: a 64-bit database integer cannot hold it.
HUGE = 2**63 + 10


@pytest.fixture
def admin(client: TestClient, db: Database, read_model: ReadModel) -> TestClient:
    client.headers["Authorization"] = f"Bearer {create_token(db, 'admin@example.com', Role.ADMIN)}"
    return client


@pytest.mark.parametrize("path", ["/api/cases", "/api/customers", "/api/tasks"])
@pytest.mark.parametrize("name", ["offset", "limit"])
def test_paging_past_a_database_integer_is_refused_with_the_bound(
    admin: TestClient, path: str, name: str
) -> None:
    response = admin.get(path, params={name: HUGE})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", name]
    assert "less than or equal to" in error["msg"]


@pytest.mark.parametrize("path", ["/api/cases", "/api/customers", "/api/tasks"])
def test_the_largest_offset_allowed_answers_an_empty_page(admin: TestClient, path: str) -> None:
    response = admin.get(path, params={"offset": 10_000_000})
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


def test_paging_bounds_hold_on_sqlite_and_postgresql(
    tmp_path: Path, database_url: str, mail: MailSink
) -> None:
    settings = make_settings(tmp_path, database_url, mail)
    db = Database.from_url(database_url)
    seed_demo(db, count=3)
    seed_demo_users(Accounts(db, dev_mode=True))
    token = create_token(db, "admin@example.com", Role.ADMIN)
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"}) as api:
        for path in ("/api/cases", "/api/customers", "/api/tasks"):
            assert api.get(path, params={"offset": MAX_OFFSET}).json()["items"] == [], path
            assert api.get(path, params={"offset": HUGE}).status_code == 422, path
            assert api.get(path, params={"offset": MAX_OFFSET + 1}).status_code == 422, path
    db.engine.dispose()


@pytest.mark.parametrize(
    ("email", "path"),
    [
        ("li.na@example.com", "/cases"),
        ("li.na@example.com", "/inbox"),
        (KIM, "/compliance/certificates"),
        (KIM, "/compliance/audit"),
    ],
)
def test_page_numbers_past_the_bound_are_refused(
    client: TestClient, read_model: ReadModel, email: str, path: str
) -> None:
    sign_in(client, email)
    response = client.get(path, params={"page": HUGE})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "page"]


def _body_schema(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    schema: dict[str, Any] = openapi["paths"][path]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


def _resolve(openapi: dict[str, Any], ref: str) -> dict[str, Any]:
    found: dict[str, Any] = openapi["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return found


@pytest.mark.parametrize(
    ("path", "triggers"),
    [
        ("/api/cases", list(Trigger)),
        ("/api/triggers", [Trigger(t.value) for t in WebhookTrigger]),
    ],
)
def test_the_schema_names_the_evidence_each_trigger_needs(
    client: TestClient, path: str, triggers: list[Trigger]
) -> None:
    openapi = client.get("/openapi.json").json()
    body = _body_schema(openapi, path)
    assert body["discriminator"]["propertyName"] == "trigger"
    mapping = body["discriminator"]["mapping"]
    assert sorted(mapping) == sorted(t.value for t in triggers)
    for trigger in triggers:
        variant = _resolve(openapi, mapping[trigger.value])
        assert variant["properties"]["trigger"]["const"] == trigger.value
        assert {"customer_id", "trigger", "evidence"} <= set(variant["required"])
        evidence = _resolve(openapi, variant["properties"]["evidence"]["$ref"])
        model = EVIDENCE_MODELS[trigger]
        assert evidence["title"] == model.__name__
        assert set(evidence["properties"]) == set(model.model_fields)
        assert evidence["additionalProperties"] is False


def test_bodies_that_worked_still_work_and_bad_evidence_is_named(
    admin: TestClient,
) -> None:
    # The README's body: valid evidence gets past validation to the customer lookup.
    good = {"customer_id": "nobody", "trigger": "inactivity", "evidence": {"inactive_days": 400}}
    assert admin.post("/api/cases", json=good).status_code == 404
    bad = {"customer_id": "nobody", "trigger": "payment_arrears", "evidence": {}}
    response = admin.post("/api/cases", json=bad)
    assert response.status_code == 422
    locs = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert ("body", "evidence", "invoice_ids") in locs


def test_links_lead_from_created_cases_and_listed_tasks_to_their_operations(
    client: TestClient,
) -> None:
    openapi = client.get("/openapi.json").json()
    created = openapi["paths"]["/api/cases"]["post"]["responses"]["201"]["links"]
    targets = {link["operationRef"] for link in created.values()}
    assert "#/paths/~1api~1cases~1%7Bcase_id%7D/get" in targets
    assert "#/paths/~1api~1cases~1%7Bcase_id%7D~1cancel/post" in targets
    assert {link["parameters"]["case_id"] for link in created.values()} == {
        "$response.body#/case_id"
    }
    listed = openapi["paths"]["/api/tasks"]["get"]["responses"]["200"]["links"]
    assert "#/paths/~1api~1tasks~1%7Btask_id%7D~1decision/post" in {
        link["operationRef"] for link in listed.values()
    }
    for link in [*created.values(), *listed.values()]:
        method = link["operationRef"].rsplit("/", 1)[-1]
        path = link["operationRef"].split("/")[2].replace("%7B", "{").replace("%7D", "}")
        assert method in openapi["paths"][path.replace("~1", "/").replace("~0", "~")]


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_api_docs_are_off_outside_dev_mode(settings: Settings, path: str) -> None:
    production = _production(settings)
    with TestClient(create_app(production)) as client:
        assert client.get(path).status_code == 404
    with TestClient(create_app(production.model_copy(update={"api_docs": True}))) as client:
        assert client.get(path).status_code == 200


def _production(settings: Settings) -> Settings:
    # Copied, not validated: what matters here is only that dev mode is off.
    return settings.model_copy(update={"dev_mode": False})
