"""A case's retention policy is the one the policy rules give its customer: only those who keep
the records (compliance officers and admins) name another when opening a case."""

from __future__ import annotations

from fastapi.testclient import TestClient

from closeout.db import Database
from closeout.domain import Role
from closeout.tokens import create_token
from tests.api.conftest import ADMIN, SAM, Scene

CASE = {"customer_id": "cust-0001", "trigger": "manual", "evidence": {"reason": "abuse"}}


def _as(db: Database, name: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(db, name, role)}"}


def test_an_account_manager_gets_the_rules_policy(
    client: TestClient, db: Database, scene: Scene
) -> None:
    sam = _as(db, SAM, Role.ACCOUNT_MANAGER)
    refused_body = {**CASE, "policy": "by-category"}
    refused = client.post("/api/cases", json=refused_body, headers=sam)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "the policy rules give this case 'standard'; another policy ('by-category') is named "
        "by compliance officers and admins only"
    )
    # Naming the rules' own choice, or none, goes past the check, to the next one: the
    # customer already has an open case. An admin goes past it with any configured policy.
    admin = _as(db, ADMIN, Role.ADMIN)
    for body, who in (({**CASE, "policy": "standard"}, sam), (CASE, sam), (refused_body, admin)):
        answer = client.post("/api/cases", json=body, headers=who)
        assert answer.status_code == 409 and "already has an open case" in answer.text
