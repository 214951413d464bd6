"""Correcting why a customer left: by their manager, with a reason, on the audit chain; the
process goes on as it was opened."""

from __future__ import annotations

from fastapi.testclient import TestClient

from closeout.db import Database
from closeout.domain import Role
from closeout.tokens import create_token
from tests.api.conftest import LI, SAM, Scene, sign_in
from tests.support import chain_report, read_model


def test_the_manager_corrects_the_churn_class_with_a_reason(
    client: TestClient, db: Database, scene: Scene
) -> None:
    headers = {"Authorization": f"Bearer {create_token(db, SAM, Role.ACCOUNT_MANAGER)}"}
    path = f"/api/cases/{scene.sam_case}/churn-class"
    before = read_model(db).get_case(scene.sam_case)
    assert before is not None and before.churn_class != "competitive"

    no_reason = client.post(path, headers=headers, json={"churn_class": "competitive"})
    assert no_reason.status_code == 422
    unknown = client.post(path, headers=headers, json={"churn_class": "bored", "reason": "x"})
    assert unknown.status_code == 422
    body = {"churn_class": "competitive", "reason": "moved to a rival's cheaper plan"}
    corrected = client.post(path, headers=headers, json=body)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["churn_class"] == "competitive"
    again = client.post(path, headers=headers, json=body)  # a retry changes nothing more
    assert again.status_code == 200 and again.json()["churn_class"] == "competitive"

    events = [
        e for e in read_model(db).case_audit(scene.sam_case) if e.action == "churn_class_corrected"
    ]
    assert len(events) == 1
    assert events[0].actor == SAM and events[0].reason == "moved to a rival's cheaper plan"
    assert events[0].details == {"from": before.churn_class, "to": "competitive"}
    assert chain_report(db).intact

    refused = client.post(f"/api/cases/{scene.li_case}/churn-class", headers=headers, json=body)
    assert refused.status_code == 403 and LI in refused.text


def test_the_case_page_corrects_it_too(client: TestClient, db: Database, scene: Scene) -> None:
    csrf = sign_in(client, SAM)
    page = client.get(f"/cases/{scene.sam_case}").text
    assert 'id="correct-churn"' in page
    path = f"/cases/{scene.sam_case}/churn-class"
    missing = client.post(path, data={"csrf_token": csrf, "churn_class": "fault", "reason": ""})
    assert missing.status_code == 422 and "needs a reason" in missing.text
    done = client.post(
        path, data={"csrf_token": csrf, "churn_class": "fault", "reason": "our outage, twice"}
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?done=churn_corrected")
    shown = client.get(done.headers["location"]).text
    assert "The churn class was corrected." in shown
    case = read_model(db).get_case(scene.sam_case)
    assert case is not None and case.churn_class == "fault"
