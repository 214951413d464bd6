"""An account manager keeps the daily scan away from one of their customers, for a while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from closeout.db import Database
from closeout.detection.detector import Detector, Disposition
from closeout.domain import Role
from closeout.settings import Settings
from closeout.tokens import create_token
from tests.api.conftest import SAM, Scene


def test_exclusions_by_the_account_manager(
    client: TestClient, db: Database, settings: Settings, scene: Scene
) -> None:
    headers = {"Authorization": f"Bearer {create_token(db, SAM, Role.ACCOUNT_MANAGER)}"}
    until = (datetime.now(UTC) + timedelta(days=60)).isoformat()
    body = {"reason": "renegotiating the contract", "until": until}
    # cust-0004 is Sam's, and uses support enough to be flagged.
    before = Detector(db, settings.detection).scan(datetime.now(UTC))
    assert "cust-0004" in {c.customer_id for c in before.of(Disposition.NEW)}
    made = client.post("/api/customers/cust-0004/exclusions", json=body, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == SAM
    after = Detector(db, settings.detection).scan(datetime.now(UTC))
    assert "cust-0004" in {c.customer_id for c in after.of(Disposition.EXCLUDED)}

    not_his = client.post("/api/customers/cust-0003/exclusions", json=body, headers=headers)
    assert not_his.status_code == 403 and "li.na@example.com" in not_his.text
    past = {**body, "until": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
    refused = client.post("/api/customers/cust-0004/exclusions", json=past, headers=headers)
    assert refused.status_code == 422 and "in the future" in refused.text
    forever = {**body, "until": (datetime.now(UTC) + timedelta(days=900)).isoformat()}
    assert (
        client.post("/api/customers/cust-0004/exclusions", json=forever, headers=headers)
    ).status_code == 422
    no_reason = client.post(
        "/api/customers/cust-0004/exclusions", json={"until": until}, headers=headers
    )
    assert no_reason.status_code == 422 and no_reason.json()["detail"][0]["loc"] == [
        "body",
        "reason",
    ]
    assert (
        client.post("/api/customers/nobody/exclusions", json=body, headers=headers).status_code
        == 404
    )
