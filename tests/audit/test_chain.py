"""The audit trail's hash chain: appends, erasure, tampering found, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select

from closeout.audit.chain import ERASURE_ACTION, verify
from closeout.audit.models import AuditEvent
from closeout.contracts import AuditEntry
from closeout.db import Database, upgrade
from tests.support import VENV_BIN, read_model


def entry(action: str, reason: str | None = None, **details: object) -> AuditEntry:
    return AuditEntry(
        str(uuid.uuid4()), "li.na@example.com", action, datetime.now(UTC), reason, details
    )


def trail(db: Database, count: int, case_id: str | None = None) -> list[AuditEntry]:
    repo = read_model(db)
    entries = [
        entry(f"step_{n}", reason=f"because of Shop {n}", count=n, note=f"called Shop {n}")
        for n in range(count)
    ]
    for e in entries:
        repo.append_audit(case_id, e)
    return entries


def report(db: Database) -> str:
    with db.session() as session:
        result = verify(session)
    return "intact" if result.first_break is None else str(result.first_break)


def tamper(db: Database, sql: str, **params: object) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_appends_chain_and_a_retry_writes_once(database_url: str) -> None:
    db = Database.from_url(database_url)
    entries = trail(db, 5)
    read_model(db).append_audit(None, entries[2])  # a retried activity
    with db.session() as session:
        seqs = session.exec(select(AuditEvent.seq).order_by(col(AuditEvent.seq))).all()
        result = verify(session)
    assert list(seqs) == [1, 2, 3, 4, 5]
    assert result.intact and result.events == 5


def test_concurrent_appends_stay_one_chain(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)

    def write(n: int) -> None:
        for attempt in range(20):
            try:
                repo.append_audit(None, entry(f"parallel_{n}"))
                return
            except sa.exc.OperationalError:  # SQLite: a writer waited too long; retry
                if attempt == 19:
                    raise

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(80)))
    with db.session() as session:
        result = verify(session)
    assert result.intact and result.events == 80


def test_changed_reason_is_found(database_url: str) -> None:
    db = Database.from_url(database_url)
    entries = trail(db, 6)
    tamper(
        db,
        "UPDATE audit_event SET reason = 'nothing to see' WHERE id = :id",
        id=entries[3].event_id,
    )
    problem = "changed: its reason or details do not match their digest"
    assert report(db) == f"event #4 ({entries[3].event_id}): {problem}"


def test_changed_fact_is_found_even_with_its_hash_recomputed(database_url: str) -> None:
    db = Database.from_url(database_url)
    entries = trail(db, 6)
    tamper(
        db, "UPDATE audit_event SET actor = 'someone.else' WHERE id = :id", id=entries[1].event_id
    )
    assert report(db).startswith(f"event #2 ({entries[1].event_id}): changed: its hash")
    # Recomputing that event's hash only moves the break to the next link.
    from closeout.audit.chain import event_digest

    with db.session() as session:
        event = session.get(AuditEvent, entries[1].event_id)
        assert event is not None
        fixed = event_digest(event)
    tamper(db, "UPDATE audit_event SET hash = :h WHERE id = :id", h=fixed, id=entries[1].event_id)
    assert report(db) == f"event #3 ({entries[2].event_id}): does not follow event #2"


def test_deleted_rows_are_found(database_url: str) -> None:
    db = Database.from_url(database_url)
    entries = trail(db, 6)
    tamper(db, "DELETE FROM audit_event WHERE id = :id", id=entries[5].event_id)
    assert report(db) == "event #6: missing: the chain ends at #5, its head says #6"
    tamper(db, "DELETE FROM audit_event WHERE id = :id", id=entries[2].event_id)
    assert report(db) == "event #3: missing (the next event is #4)"


def test_erasure_keeps_the_chain_and_no_personal_text(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    case_id = str(uuid.uuid4())
    _insert_case(db, case_id, "cust-erase")
    trail(db, 3, case_id)
    repo.append_audit(case_id, entry("backup_verified", bundle_id="b-1", manifest_sha256="ab" * 32))
    erasure = entry("customer_data_deleted")
    erased = repo.erase_customer_audit("cust-erase", erasure)
    assert erased == [1, 2, 3]
    assert repo.erase_customer_audit("cust-erase", erasure) == []  # a retry erases nothing new
    with db.session() as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
        result = verify(session)
    assert result.intact and result.erased == 3
    assert [e.reason for e in events[:3]] == [None, None, None]
    assert events[0].details == {"count": 0}  # numbers stay, free text goes
    assert events[3].details == {"bundle_id": "b-1", "manifest_sha256": "ab" * 32}
    assert events[3].erased_at is None  # nothing personal in it: left untouched
    assert events[4].action == ERASURE_ACTION and events[4].details["erased_seqs"] == [1, 2, 3]
    assert "Shop" not in repr([(e.reason, e.details) for e in events])
    # Marking another event erased (to hide an edit) is found: no erasure names it.
    tamper(
        db,
        "UPDATE audit_event SET erased_at = :at, reason = 'edited' WHERE seq = 4",
        at=datetime(2026, 1, 1),
    )
    assert report(db) == f"event #4 ({events[3].id}): marked erased, but no erasure event names it"


def test_migration_chains_existing_events(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    upgrade(url, "0006")
    db = Database.from_url(url)
    with db.engine.begin() as conn:
        for n in range(4):
            conn.execute(
                sa.text(
                    "INSERT INTO audit_event (id, case_id, at, actor, action, reason, details) "
                    "VALUES (:id, NULL, :at, 'system', :action, NULL, '{\"n\": 1}')"
                ),
                {"id": str(uuid.uuid4()), "at": datetime(2026, 1, 1 + n), "action": f"old_{n}"},
            )
    upgrade(url)
    trail(db, 2)
    with db.session() as session:
        result = verify(session)
    assert result.intact and result.events == 6


def test_closeout_audit_verify(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/closeout.db"
    upgrade(url)
    db = Database.from_url(url)
    entries = trail(db, 3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEOUT_")}
    env.update({"CLOSEOUT_DEV_MODE": "true", "CLOSEOUT_DATABASE_URL": url})
    command = [str(VENV_BIN / "closeout"), "audit", "verify"]
    ok = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "audit trail intact: 3 events chained" in ok.stdout
    tamper(db, "DELETE FROM audit_event WHERE id = :id", id=entries[1].event_id)
    broken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    assert "audit trail broken at event #2: missing (the next event is #3)" in broken.stderr
    as_json = subprocess.run(
        [*command, "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert as_json.returncode == 1 and '"intact": false' in as_json.stdout


def _insert_case(db: Database, case_id: str, customer_id: str) -> None:
    from closeout.cases.models import CaseRecord, opened_month_of

    with db.session() as session:
        session.add(
            CaseRecord(
                id=case_id,
                customer_id=customer_id,
                workflow_id=f"close-customer-{customer_id}",
                run_id="run-1",
                trigger="inactivity",
                churn_class="natural",
                policy="standard",
                stage="retention",
                opened_at=datetime.now(UTC),
                opened_month=opened_month_of(datetime.now(UTC)),
                updated_at=datetime.now(UTC),
                opened_by="li.na@example.com",
                evidence={},
            )
        )
