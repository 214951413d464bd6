"""`audit verify` checks each deletion certificate's anchor in the trail, on both databases."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select

from closeout.audit.chain import event_digest, verify
from closeout.audit.models import AuditChainHead, AuditEvent
from closeout.cases.models import CaseRecord, opened_month_of
from closeout.certificates.anchors import check_anchors
from closeout.certificates.models import DeletionCertificate
from closeout.certificates.repository import Certificates
from closeout.contracts import AuditEntry
from closeout.db import Database, upgrade
from closeout.settings import Settings
from tests.support import VENV_BIN, read_model


def _append(db: Database, count: int) -> None:
    repo = read_model(db)
    for n in range(count):
        repo.append_audit(
            None,
            AuditEntry(str(uuid.uuid4()), "system", f"step_{n}", datetime.now(UTC), None, {}),
        )


def _certified_case(db: Database, certificates: Certificates) -> DeletionCertificate:
    """A case with a recorded deletion and its certificate, anchored at the trail's head."""
    case_id, customer = str(uuid.uuid4()), f"cust-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    with db.session() as session:
        session.add(
            CaseRecord(
                id=case_id,
                customer_id=customer,
                workflow_id=f"close-customer-{customer}",
                run_id="run-1",
                trigger="inactivity",
                churn_class="natural",
                policy="standard",
                stage="closed",
                opened_at=now,
                opened_month=opened_month_of(now),
                updated_at=now,
                opened_by="li.na@example.com",
                evidence={},
            )
        )
    certificates.record_deletion(str(uuid.uuid4()), case_id, ["all"], {"crm": 3}, now)
    return certificates.issue(case_id, ["crm"], now)


def _problems(db: Database, certificates: Certificates) -> list[str]:
    with db.session() as session:
        return [str(p) for p in check_anchors(session, certificates).problems]


def _rewrite_from(db: Database, seq: int) -> None:
    """Change event `seq` and recompute every hash after it, as a thorough forger would."""
    with db.session() as session:
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.seq) >= seq).order_by(col(AuditEvent.seq))
        ).all()
        previous = session.exec(select(AuditEvent.hash).where(AuditEvent.seq == seq - 1)).one()
        events[0].actor = "someone.else"
        for event in events:
            event.prev_hash = previous
            event.hash = previous = event_digest(event)
            session.add(event)
        head = session.get(AuditChainHead, 1)
        assert head is not None
        head.hash = previous
        session.add(head)


def _tamper(db: Database, sql: str, **params: object) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_anchors_hold_and_a_rewritten_trail_is_found(database_url: str) -> None:
    db = Database.from_url(database_url)
    certificates = Certificates(db, Settings(dev_mode=True).record_keys())
    _append(db, 3)
    certificate = _certified_case(db, certificates)
    assert certificate.body["audit_anchor"]["seq"] == 3
    _append(db, 2)
    assert _problems(db, certificates) == []
    _rewrite_from(db, 2)
    with db.session() as session:
        assert verify(session).intact, "the chain alone cannot tell"
    assert _problems(db, certificates) == [
        f"certificate {certificate.id} (case {certificate.case_id}): its anchor, event #3, "
        "no longer has the hash the certificate recorded"
    ]


def test_a_changed_anchor_and_a_lost_anchor_event_are_found(database_url: str) -> None:
    db = Database.from_url(database_url)
    certificates = Certificates(db, Settings(dev_mode=True).record_keys())
    _append(db, 2)
    first = _certified_case(db, certificates)
    _append(db, 2)
    second = _certified_case(db, certificates)
    # The first certificate's anchor moved to the current head: its signature no longer holds.
    body = {**first.body, "audit_anchor": second.body["audit_anchor"]}
    _tamper(
        db,
        "UPDATE deletion_certificate SET body = :body WHERE id = :id",
        body=json.dumps(body),
        id=first.id,
    )
    # The trail cut back to before the second certificate (its head set back to match).
    _tamper(db, "DELETE FROM audit_event WHERE seq > 2")
    with db.session() as session:
        kept = session.exec(select(AuditEvent.hash).where(AuditEvent.seq == 2)).one()
    _tamper(db, "UPDATE audit_chain_head SET seq = 2, hash = :h", h=kept)
    with db.session() as session:
        assert verify(session).intact
    assert _problems(db, certificates) == [
        f"certificate {first.id} (case {first.case_id}): its body or signature was changed: "
        "its anchor cannot be trusted",
        f"certificate {second.id} (case {second.case_id}): its anchor, event #4, "
        "is not in the audit trail",
    ]


def test_closeout_audit_verify_reports_certificate_anchors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/closeout.db"
    upgrade(url)
    db = Database.from_url(url)
    _append(db, 3)
    certificate = _certified_case(db, Certificates(db, Settings(dev_mode=True).record_keys()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEOUT_")}
    env.update({"CLOSEOUT_DEV_MODE": "true", "CLOSEOUT_DATABASE_URL": url})
    command = [str(VENV_BIN / "closeout"), "audit", "verify"]
    ok = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "audit trail intact: 3 events chained" in ok.stdout
    assert "certificate anchors hold: 1 certificates checked" in ok.stdout
    _rewrite_from(db, 2)
    broken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    assert "audit trail intact: 3 events chained" in broken.stdout
    assert (
        f"certificate anchor broken: certificate {certificate.id} (case {certificate.case_id}): "
        "its anchor, event #3, no longer has the hash the certificate recorded"
    ) in broken.stderr
    as_json = subprocess.run(
        [*command, "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and report["intact"] is True and report["anchored"] is False
    assert report["certificates"] == 1
    assert [p["certificate_id"] for p in report["anchor_problems"]] == [certificate.id]
