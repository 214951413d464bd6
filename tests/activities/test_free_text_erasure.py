"""Deletion leaves no word of the customer's in the read model, and the verification proves it.

The customer's name is planted in every column `FREE_TEXT` lists (on SQLite and PostgreSQL),
through the paths that write them in real cases; deletion must remove it everywhere, keeping
ids, kinds and dates, and a word put back in any one of them must fail the verification.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import select as model_select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from closeout.archive import export_key
from closeout.cases.erasure import (
    AUDIT_TEXT,
    DELIVERIES,
    FREE_TEXT,
    CustomerWords,
    FreeText,
)
from closeout.cases.models import CaseRecord, LegalHoldRecord, TaskRecord
from closeout.contracts import HoldPlaced, HoldReleased, OpenTask
from closeout.crypto.data_keys import KeyDestroyed
from closeout.db import table_of
from closeout.detection.models import (
    DetectionCandidate,
    DetectionExclusion,
    DetectionRun,
    TriggerDelivery,
)
from closeout.domain import TaskKind
from tests.activities.conftest import World, audit

run = ActivityEnvironment().run


def _plant(world: World, customer: str, case_id: str, words: str) -> None:
    """The customer's words in every listed column, as real cases put them there."""
    cases = world.activities.cases
    now = datetime.now(UTC)
    task_id = str(uuid.uuid4())
    cases.open_task(
        OpenTask(
            task_id, case_id, customer, TaskKind.OBJECTION_REVIEW, "li.na@example.com",
            now + timedelta(days=7), audit("task_opened"), note=f"customer object: {words}",
        )
    )  # fmt: skip
    hold_id = str(uuid.uuid4())
    cases.record_hold_placed(
        HoldPlaced(
            hold_id, case_id, f"dispute with {words}", f"{words} v. Company",
            "kim.compliance@example.com", audit("legal_hold_placed"),
        )
    )  # fmt: skip
    cases.record_hold_released(
        HoldReleased(
            hold_id, "kim.compliance@example.com", f"settled with {words}",
            audit("legal_hold_released"),
        )
    )  # fmt: skip
    notice_id = str(uuid.uuid4())
    cases.prepare_notice(notice_id, case_id, "closed", f"<{notice_id}@closeout>")
    cases.mark_notice(notice_id, "sent", f"{words}@example.org", audit("notice_sent"))
    with world.db.session() as session:
        task = session.get(TaskRecord, task_id)
        case = session.get(CaseRecord, case_id)
        assert task is not None and case is not None
        task.comment = f"called {words}, no way back"
        case.evidence = {**case.evidence, "request_text": f"I am {words}, delete me", "days": 3}
        session.add_all([task, case])
        run_id = str(uuid.uuid4())
        session.add(DetectionRun(id=run_id, started_at=now))
        session.flush()
        session.add(
            DetectionCandidate(
                run_id=run_id, customer_id=customer, trigger="manual", churn_class="natural",
                evidence={"note": f"{words} complained", "complaints": 4}, status="new",
            )
        )  # fmt: skip
        session.add(
            TriggerDelivery(
                idempotency_key=f"crm-{case_id}", body_sha256="d" * 64, status_code=200,
                response={"action": "evidence_added", "case_id": case_id}, created_at=now,
            )
        )  # fmt: skip
        session.add(
            DetectionExclusion(
                id=str(uuid.uuid4()), customer_id=customer, reason=f"{words} is renegotiating",
                created_by="li.na@example.com", created_at=now, expires_at=now + timedelta(30),
            )
        )  # fmt: skip


def _case_ids(customer: str) -> Any:
    cases = table_of(CaseRecord)
    return select(cases.c.id).where(cases.c.customer_id == customer).scalar_subquery()


def _values(world: World, item: FreeText, customer: str) -> list[Any]:
    with world.db.transaction() as connection:
        column = item.table.c[item.column]
        if item.by == "customer_id":
            where = item.table.c.customer_id == customer
        else:
            where = item.table.c.case_id.in_(_case_ids(customer))
        return [row[0] for row in connection.execute(select(column).where(where))]


def _put_back(world: World, item: FreeText, customer: str, words: str) -> None:
    value: Any = {"text": words} if item.json else words
    if item.name == "notice.sealed":
        value = {"to": f"{words}@example.org"}
    with world.db.transaction() as connection:
        if item.by == "customer_id":
            where = item.table.c.customer_id == customer
        else:
            where = item.table.c.case_id.in_(_case_ids(customer))
        connection.execute(update(item.table).where(where).values({item.column: value}))


def test_every_listed_column_is_erased_and_scanned(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    words = f"Zelda Quux {uuid.uuid4().hex[:6]}"
    _plant(world, customer, case_id, words)
    planted = {
        item.name
        for item in FREE_TEXT
        if any(words in str(v) for v in _values(world, item, customer))
    }
    assert planted == {item.name for item in FREE_TEXT} - {"notice.sealed"}
    assert set(CustomerWords(world.db).remaining(customer)) == planted | {DELIVERIES}

    removed = run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    again = run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    # The outbox counts on its own; the webhook's delivery goes with the customer.
    assert removed["free_text_fields"] == len(planted) - 1 + 1
    assert again["free_text_fields"] == 0
    for item in FREE_TEXT:
        assert not any(words in str(v) for v in _values(world, item, customer)), item.name
    # Ids, kinds, dates and numbers stay: lists and counts still add up.
    with world.db.session() as session:
        case = session.get(CaseRecord, case_id)
        assert case is not None and case.evidence.get("days") == 3
        holds = session.exec(
            model_select(LegalHoldRecord).where(LegalHoldRecord.case_id == case_id)
        ).all()
        assert len(holds) == 1 and holds[0].released_at is not None
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))

    # A word put back in any one column fails the verification, naming the column only.
    for item in FREE_TEXT:
        _put_back(world, item, customer, words)
        with pytest.raises(ApplicationError) as exc:
            run(world.activities.verify_deletion, world.step(case_id, customer, "verified"))
        assert item.name in str(exc.value) and words not in str(exc.value)
        CustomerWords(world.db).erase(customer)
        world.activities.cases.scrub_recipients(customer, sealed_too=True)
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))
    # So does an audit event of the case written with words after the erasure.
    late = audit("customer_answered")
    world.activities.cases.append_audit(case_id, replace(late, reason=f"{words} called again"))
    with pytest.raises(ApplicationError, match=AUDIT_TEXT) as exc:
        run(world.activities.verify_deletion, world.step(case_id, customer, "verified"))
    assert words not in str(exc.value)


def test_exports_are_sealed_and_shredded_with_the_customer(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    export_id = str(uuid.uuid4())
    run(
        world.activities.prepare_data_export,
        world.step(case_id, customer, "data_export_prepared", export_id),
    )
    stored = world.activities.archive.get(export_key(customer, export_id))
    assert stored is not None and f"Shop {customer}".encode() not in stored
    assert b"orders" not in stored  # sealed, not merely renamed
    opened = world.activities.vault.get_export(customer, export_id)
    assert opened is not None and f"Shop {customer}".encode() in opened
    run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    # A copy of the export taken before the deletion (a file backup, say) is unreadable.
    world.activities.archive.put(export_key(customer, export_id), stored)
    with pytest.raises(KeyDestroyed):
        world.activities.vault.get_export(customer, export_id)
