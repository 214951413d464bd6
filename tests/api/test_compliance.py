"""Compliance: deletion certificates (issued only after verification, signed, as JSON and a
page) and the retention clocks page."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from temporalio.api.common.v1 import Payload
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from closeout.certificates.repository import Certificates
from closeout.contracts import AuditEntry, CustomerStep
from closeout.crm.adapters import crm_from
from closeout.db import Database
from closeout.domain import DataCategory, Role, Stage
from closeout.settings import Settings
from closeout.temporal import display_codec
from closeout.tokens import create_token
from tests.api.conftest import ADMIN, KIM, SAM, ReadModel, sign_in
from worker import build_activities

run = ActivityEnvironment().run


def step(case_id: str, customer_id: str, action: str) -> CustomerStep:
    entry = AuditEntry(str(uuid.uuid4()), "system", action, datetime.now(UTC))
    return CustomerStep(case_id, customer_id, entry, None)


def deleted_case(
    settings: Settings, db: Database, read_model: ReadModel
) -> tuple[str, dict[str, int]]:
    """A case whose customer was deleted and verified; what the CRM held of them before."""
    case_id = read_model.case("cust-0003")
    activities = build_activities(settings, db).cases
    held = crm_from(settings, db).remaining_records("cust-0003")
    run(activities.delete_customer_data, step(case_id, "cust-0003", "customer_data_deleted"))
    run(activities.verify_deletion, step(case_id, "cust-0003", "deletion_verified"))
    return case_id, held


def bearer(db: Database, role: Role, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(db, name, role)}"}


def test_certificate_after_verified_deletion(
    settings: Settings, db: Database, read_model: ReadModel, client: TestClient
) -> None:
    case_id, held = deleted_case(settings, db, read_model)
    response = client.get(
        f"/api/cases/{case_id}/certificate", headers=bearer(db, Role.COMPLIANCE_OFFICER, KIM)
    )
    assert response.status_code == 200, response.text
    out = response.json()
    body = out["certificate"]
    assert out["authentic"] is True and out["case_id"] == case_id
    assert body["customer_id"] == "cust-0003" and len(body["customer_ref"]) == 64
    assert body["policy"] == "standard" and body["trigger"] == "inactivity"
    assert body["categories"] == sorted(c.value for c in DataCategory)
    assert {k: v for k, v in body["stores"]["crm"].items() if v} == held
    assert set(body["stores"]) == {
        "crm",
        "archive",
        "data_keys",
        "outbox",
        "audit",
        "read_model",
        "suppression_ledger",
    }
    assert body["verification"]["stores_checked"] == [
        "crm",
        "archive",
        "exports",
        "outbox",
        "data_keys",
        "read_model_free_text",
        "suppression_ledger",
    ]
    assert body["audit_anchor"]["seq"] > 0
    # Verifying again (a retried activity) issues nothing new.
    activities = build_activities(settings, db).cases
    run(activities.verify_deletion, step(case_id, "cust-0003", "deletion_verified"))
    again = client.get(
        f"/api/cases/{case_id}/certificate", headers=bearer(db, Role.ADMIN, ADMIN)
    ).json()
    assert again["certificate_id"] == out["certificate_id"]
    # An edited certificate no longer matches its signature.
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE deletion_certificate SET body = :b WHERE case_id = :c"),
            {"b": response.text.replace("standard", "lenient"), "c": case_id},
        )
    certificates = Certificates(db, settings.record_keys())
    found = certificates.for_case(case_id)
    assert found is not None and not certificates.is_authentic(found)


def test_no_certificate_before_deletion_or_when_something_remains(
    settings: Settings, db: Database, read_model: ReadModel, client: TestClient
) -> None:
    headers = bearer(db, Role.COMPLIANCE_OFFICER, KIM)
    open_case = read_model.case("cust-0001")
    response = client.get(f"/api/cases/{open_case}/certificate", headers=headers)
    assert response.status_code == 404
    assert "no deletion certificate" in response.json()["detail"]
    assert "stage opened" in response.json()["detail"]
    assert client.get("/api/cases/nope/certificate", headers=headers).status_code == 404
    am = bearer(db, Role.ACCOUNT_MANAGER, SAM)
    assert client.get(f"/api/cases/{open_case}/certificate", headers=am).status_code == 403
    # A failed verification certifies nothing.
    activities = build_activities(settings, db).cases
    with pytest.raises(ApplicationError, match="records remain"):
        run(activities.verify_deletion, step(open_case, "cust-0001", "deletion_verified"))
    assert Certificates(db, settings.record_keys()).for_case(open_case) is None


def test_certificate_pages(
    settings: Settings, db: Database, read_model: ReadModel, client: TestClient
) -> None:
    case_id, _held = deleted_case(settings, db, read_model)
    sign_in(client, KIM)
    listing = client.get("/compliance/certificates")
    assert listing.status_code == 200 and f"/compliance/certificates/{case_id}" in listing.text
    page = client.get(f"/compliance/certificates/{case_id}")
    assert page.status_code == 200
    assert "Certificate of deletion" in page.text and "signature valid" in page.text
    assert "Invoices and accounting records" in page.text and "data-print" in page.text
    download = client.get(f"/compliance/certificates/{case_id}/download")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert download.json()["certificate"]["case_id"] == case_id
    missing = client.get(f"/compliance/certificates/{read_model.case('cust-0001')}")
    assert missing.status_code == 404 and "no deletion certificate" in missing.text


def test_retention_page_counts_down_each_category(
    db: Database, read_model: ReadModel, client: TestClient
) -> None:
    from datetime import timedelta

    from closeout.contracts import CaseChange, CategoryClock

    now = datetime.now(UTC)
    soon, later = read_model.case("cust-0003"), read_model.case("cust-0001")
    clocks = {
        soon: [
            CategoryClock(DataCategory.MARKETING_DATA, now - timedelta(days=1), now),
            CategoryClock(DataCategory.CONTACT_DATA, now + timedelta(days=20, hours=1)),
            CategoryClock(DataCategory.ACCOUNTING_RECORDS, now + timedelta(days=3650)),
        ],
        later: [CategoryClock(DataCategory.CONTACT_DATA, now + timedelta(days=200))],
    }
    for case_id, case_clocks in clocks.items():
        read_model.repo.apply_case_change(
            CaseChange(
                case_id,
                AuditEntry(str(uuid.uuid4()), "system", "stage_entered", now),
                stage=Stage.RETENTION,
                retention_end=max(c.ends_at for c in case_clocks),
                category_clocks=case_clocks,
            )
        )
    sign_in(client, KIM)
    page = client.get("/compliance").text
    assert "Contact data: 20 days" in page and "Marketing data: deleted" in page
    assert "Deletions due in the next 90 days" in page and "1 due, 0 on hold" in page
    due_soon = client.get("/compliance?within=30").text
    assert f"/cases/{soon}" in due_soon and f"/cases/{later}" not in due_soon


def test_retention_page_goes_a_page_at_a_time(
    db: Database, read_model: ReadModel, client: TestClient
) -> None:
    import re
    from datetime import timedelta

    from closeout.contracts import CaseChange

    now = datetime.now(UTC)
    cases = []
    for n in range(30):
        case_id = read_model.case(f"cust-{n % 12 + 1:04d}")
        read_model.repo.apply_case_change(
            CaseChange(case_id, AuditEntry(str(uuid.uuid4()), "system", "archived", now),
                       stage=Stage.RETENTION, retention_end=now + timedelta(days=10 + n))
        )  # fmt: skip
        cases.append(case_id)
    sign_in(client, KIM)
    first = client.get("/compliance").text
    shown = [c for c in cases if f"/cases/{c}" in first]
    assert shown == cases[:25] and "First page" not in first
    found = re.search(r'href="(/compliance\?after=[^"]+)">Next', first)
    assert found, "the first page links to the next"
    second = client.get(found.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert [c for c in cases if f"/cases/{c}" in second.text] == cases[25:]
    assert "First page" in second.text and ">Next<" not in second.text
    assert "30 due, 0 on hold" not in first  # the chart counts by week
    weekly = re.findall(r"(\d+) due, 0 on hold", first)
    assert sum(int(n) for n in weekly) == 30


def test_holds_page_lists_holds_by_review_date(
    db: Database, read_model: ReadModel, client: TestClient
) -> None:
    from datetime import timedelta

    from closeout.contracts import HoldPlaced

    now = datetime.now(UTC)
    case_id = read_model.case("cust-0003")
    for reason, review in (("tax audit", now - timedelta(days=1)), ("litigation", None)):
        read_model.repo.record_hold_placed(
            HoldPlaced(
                str(uuid.uuid4()),
                case_id,
                reason,
                None,
                KIM,
                AuditEntry(str(uuid.uuid4()), KIM, "legal_hold_placed", now),
                review,
            )
        )
    csrf = sign_in(client, KIM)
    page = client.get("/compliance/holds").text
    assert page.index("tax audit") < page.index("litigation")  # by review date
    assert page.count("review due") == 1 and page.count('action="/compliance/holds/') == 2
    # Refused before anything is asked of the workflow: a hold without a reason.
    refused = client.post(
        f"/cases/{case_id}/legal-holds", data={"csrf_token": csrf, "reason": "  "}
    )
    assert refused.status_code == 422 and "a legal hold needs a reason" in refused.text
    released = client.post(
        "/compliance/holds/some-hold/release",
        data={"csrf_token": csrf, "case_id": case_id, "reason": ""},
    )
    assert released.status_code == 422 and "needs a reason" in released.text


def test_audit_search_csv_and_chain_check(
    db: Database, read_model: ReadModel, client: TestClient
) -> None:
    import csv
    import io

    case_id = read_model.case("cust-0003")
    read_model.repo.append_audit(
        case_id,
        AuditEntry(str(uuid.uuid4()), SAM, "task_decided", datetime.now(UTC), '=HYPERLINK("x")'),
    )
    csrf = sign_in(client, KIM)
    page = client.get(f"/compliance/audit?case_id={case_id}&action=task_decided").text
    assert "task_decided" in page and "1 events, page 1 of 1" in page
    exported = client.get(f"/compliance/audit.csv?case_id={case_id}")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["action"] for r in rows] == ["case_opened", "task_decided"]
    assert rows[1]["reason"].startswith("'=")  # no formula reaches a spreadsheet
    assert all(r["hash"] for r in rows)
    checked = client.post("/compliance/audit/verify", data={"csrf_token": csrf})
    assert checked.status_code == 200 and "The hash chain holds" in checked.text
    # The export itself was audited.
    assert "audit_exported" in client.get("/compliance/audit?action=audit_exported").text


def test_the_web_uis_codec_endpoint(
    settings: Settings, read_model: ReadModel, client: TestClient
) -> None:
    import base64

    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": ""}
    plain["data"] = base64.b64encode(b'{"comment": "called Mrs Wu"}').decode()
    preflight = client.options("/codec/decode")
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == settings.temporal_ui_url
    sign_in(client, SAM)
    assert client.post("/codec/decode", json={"payloads": [plain]}).status_code == 403
    sign_in(client, KIM)
    cipher = display_codec(settings)
    assert cipher is not None
    proto = Payload(metadata={"encoding": b"json/plain"}, data=b'{"comment": "called Mrs Wu"}')
    (sealed,) = asyncio.run(cipher.encode([proto]))
    assert b"Mrs Wu" not in sealed.data
    as_json = {
        "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
        "data": base64.b64encode(sealed.data).decode(),
    }
    opened = client.post("/codec/decode", json={"payloads": [as_json]})
    assert opened.status_code == 200 and opened.json()["payloads"] == [plain]
    assert opened.headers["access-control-allow-credentials"] == "true"
    # The UI reads; nothing is sealed for it to send to a workflow.
    assert client.post("/codec/encode", json={"payloads": [plain]}).status_code in (404, 405)
    # What cannot be read is a 400 saying so, not a server error.
    broken = {"metadata": {"encoding": "!!"}, "data": ""}
    assert client.post("/codec/decode", json={"payloads": [broken]}).status_code == 422
    flipped = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])  # always a changed byte
    tampered = {**as_json, "data": base64.b64encode(flipped).decode()}
    assert client.post("/codec/decode", json={"payloads": [tampered]}).status_code == 400


def test_retained_data_only_for_cases_in_retention(
    db: Database, read_model: ReadModel, client: TestClient
) -> None:
    opened = read_model.case("cust-0001")
    headers = bearer(db, Role.COMPLIANCE_OFFICER, KIM)
    refused = client.get(f"/api/cases/{opened}/retained-data", headers=headers)
    assert refused.status_code == 409 and "not in retention" in refused.json()["detail"]
    assert client.get("/api/cases/nope/retained-data", headers=headers).status_code == 404
    am = bearer(db, Role.ACCOUNT_MANAGER, SAM)
    assert client.get(f"/api/cases/{opened}/retained-data", headers=am).status_code == 403
