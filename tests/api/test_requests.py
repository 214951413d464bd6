"""Customers' own requests in the API and on the compliance pages: the open ones by days left,
overdue first, and an extension's every refusal before it reaches the case (SQLite and
PostgreSQL; the case's own rules are tested in tests/workflows/test_own_request.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from closeout.contracts import AuditEntry, CaseChange
from closeout.db import Database
from closeout.domain import Role, Trigger
from closeout.tokens import create_token
from tests.api.conftest import KIM, SAM, ReadModel, sign_in


def _request(read_model: ReadModel, customer_id: str, due_in: timedelta) -> str:
    case_id = read_model.case(customer_id, Trigger.CUSTOMER_REQUEST)
    now = datetime.now(UTC)
    read_model.repo.apply_case_change(
        CaseChange(
            case_id,
            AuditEntry(str(uuid.uuid4()), "system", "request_due_set", now),
            request_due_at=now + due_in,
        )
    )
    return case_id


def test_open_requests_by_days_left_overdue_first(
    client: TestClient, db: Database, read_model: ReadModel
) -> None:
    later = _request(read_model, "cust-0001", timedelta(days=20, hours=1))
    overdue = _request(read_model, "cust-0002", timedelta(days=-3, hours=-1))
    soon = _request(read_model, "cust-0003", timedelta(days=2, hours=1))
    answered = _request(read_model, "cust-0004", timedelta(days=9))
    read_model.repo.apply_case_change(
        CaseChange(
            answered,
            AuditEntry(str(uuid.uuid4()), "system", "request_answered", datetime.now(UTC)),
            request_answered_at=datetime.now(UTC),
        )
    )
    read_model.case("cust-0005")  # not a request at all
    headers = {"Authorization": f"Bearer {create_token(db, KIM, Role.COMPLIANCE_OFFICER)}"}
    listed = client.get("/api/requests", headers=headers).json()
    assert [(r["case_id"], r["days_left"], r["overdue"]) for r in listed] == [
        (overdue, -4, True),
        (soon, 2, False),
        (later, 20, False),
    ]
    am = {"Authorization": f"Bearer {create_token(db, SAM, Role.ACCOUNT_MANAGER)}"}
    assert client.get("/api/requests", headers=am).status_code == 403
    # The same list on the compliance pages, the overdue one marked.
    sign_in(client, KIM)
    page = client.get("/compliance/requests")
    assert page.status_code == 200
    rows = page.text.split('data-case="')[1:]
    assert [r[:36] for r in rows] == [overdue, soon, later]
    assert "Overdue" in rows[0] and "Overdue" not in rows[1]


def test_an_extension_is_refused_with_a_reason_before_the_case_is_asked(
    client: TestClient, db: Database, read_model: ReadModel
) -> None:
    case_id = _request(read_model, "cust-0001", timedelta(days=20))  # Sam's customer
    sam = {"Authorization": f"Bearer {create_token(db, SAM, Role.ACCOUNT_MANAGER)}"}
    path = f"/api/cases/{case_id}/request-extension"
    naive = client.post(path, headers=sam, json={"until": "2027-01-31T00:00:00", "reason": "x"})
    assert naive.status_code == 422 and "time zone" in naive.json()["detail"]
    no_reason = client.post(path, headers=sam, json={"until": "2027-01-31T00:00:00Z"})
    assert no_reason.status_code == 422
    unmailable = client.post(
        path,
        headers={**sam, "Content-Type": "application/json"},
        content=b'{"until": "2027-01-31T00:00:00Z", "reason": "x\\ud800y"}',
    )
    assert unmailable.status_code == 422  # refused as no valid string, and said so
    assert unmailable.json()["detail"][0]["loc"] == ["body", "reason"]
    unknown = client.post(
        "/api/cases/nope/request-extension",
        headers=sam,
        json={"until": "2027-01-31T00:00:00Z", "reason": "x"},
    )
    assert unknown.status_code == 404
    other = _request(read_model, "cust-0003", timedelta(days=20))  # Li Na's
    refused = client.post(
        f"/api/cases/{other}/request-extension",
        headers=sam,
        json={"until": "2027-01-31T00:00:00Z", "reason": "x"},
    )
    assert refused.status_code == 403
