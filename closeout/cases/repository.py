"""All SQL of the read model. Every write is idempotent: a retried activity writes once.

The customer's words (notes, comments, hold reasons, evidence in their words, the audit's free
text of their cases) are sealed before they are written and opened as they are read
(closeout/cases/sealing.py): no transaction waits on a key being made.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import SQLModel, select

from closeout.audit import chain
from closeout.cases import facts, forecast
from closeout.cases.bundles import Bundles
from closeout.cases.models import (
    FACT_DIMENSIONS,
    CaseRecord,
    LegalHoldRecord,
    TaskRecord,
    opened_month_of,
)
from closeout.cases.outbox import Outbox
from closeout.cases.reads import CaseReads, Page, count_of
from closeout.cases.sealing import SealedAudit, SealedWords
from closeout.contracts import (
    AuditEntry,
    CaseChange,
    CaseOpened,
    CloseTask,
    EvidenceAdded,
    HoldPlaced,
    HoldReleased,
    OpenTask,
    TaskReassigned,
)
from closeout.crypto.vault import data_keys_from
from closeout.db import Database, table_of
from closeout.domain import Stage, TaskStatus
from closeout.inbound.models import InboundMessage
from closeout.settings import Settings

__all__ = ["CaseRepository", "Page", "case_repository", "count_of"]

# The writes every case makes many times run as Core statements built once: building a
# statement, or the ORM's unit of work around a one-row change, costs more than running it.
_CASES = table_of(CaseRecord)
_TASKS = table_of(TaskRecord)
_HOLDS = table_of(LegalHoldRecord)
_CASE_EXISTS = sa_select(_CASES.c.id).where(_CASES.c.id == bindparam("key"))
# What decides when a case's deletions fall due (see `forecast.due_days`).
_CASE_CLOCKS = sa_select(
    _CASES.c.stage, _CASES.c.outcome, _CASES.c.category_clocks, _CASES.c.retention_end
).where(_CASES.c.id == bindparam("key"))
# ... and what the insights' facts of a change need (`facts.case_changed`, `facts.load_keys`).
_CASE_BEFORE = sa_select(
    _CASES.c.stage, _CASES.c.outcome, _CASES.c.category_clocks, _CASES.c.retention_end,
    _CASES.c.stage_since, *(_CASES.c[d] for d in FACT_DIMENSIONS if d != "stage"),
).where(_CASES.c.id == bindparam("key"))  # fmt: skip
_UPDATE_CASE = sa_update(_CASES).where(_CASES.c.id == bindparam("key"))
_INBOUND = table_of(InboundMessage)
_TASK_EXISTS = sa_select(_TASKS.c.id).where(_TASKS.c.id == bindparam("key"))
_TASK_STATE = sa_select(
    _TASKS.c.case_id, _TASKS.c.status, _TASKS.c.customer_id, _TASKS.c.due_at
).where(_TASKS.c.id == bindparam("key"))
_UPDATE_TASK = sa_update(_TASKS).where(_TASKS.c.id == bindparam("key"))
_HOLD = sa_select(_HOLDS.c.case_id, _HOLDS.c.released_at, _HOLDS.c.review_reminded_at).where(
    _HOLDS.c.id == bindparam("key")
)
_UPDATE_HOLD = sa_update(_HOLDS).where(_HOLDS.c.id == bindparam("key"))


def _now() -> datetime:
    return datetime.now(UTC)


def _columns(table: Table, row: SQLModel) -> dict[str, Any]:
    """A model's values by column, defaults included, for a Core insert."""
    return {column.name: getattr(row, column.name) for column in table.columns}


class CaseRepository(CaseReads, Outbox, Bundles, SealedAudit):
    def __init__(self, db: Database, sealed: SealedWords) -> None:
        self.db = db
        self.sealed = sealed

    # ------------------------------------------------------------ the audit of a case

    def append_audit(self, case_id: str | None, entry: AuditEntry) -> None:
        stored = self._stored_audit(case_id, entry)
        with self.db.transaction() as connection:
            if chain.append_on(connection, case_id, entry, stored) and case_id is not None:
                facts.answer_given(connection, case_id, entry.action, entry.at)

    def erase_customer_audit(self, customer_id: str, erasure: AuditEntry) -> list[int]:
        """Erase the personal content of every audit event of the customer's cases."""
        with self.db.session() as session:
            case_ids = session.exec(
                select(CaseRecord.id).where(CaseRecord.customer_id == customer_id)
            ).all()
            erased: list[int] = []
            for n, case_id in enumerate(sorted(case_ids)):
                derived = str(uuid5(NAMESPACE_URL, f"{erasure.event_id}/{case_id}"))
                entry = erasure if n == 0 else replace(erasure, event_id=derived)
                erased += chain.erase_case_content(session, case_id, entry)
            return erased

    # ------------------------------------------------------------ corrections by staff

    def correct_churn_class(self, case_id: str, churn_class: str, audit: AuditEntry) -> bool:
        """A person corrects why the customer left (the case's churn class), for the record and
        the figures; the event (from, to, why) and the change are one transaction. False when
        the event was already written (a retry)."""
        stored = self._stored_audit(case_id, audit)
        with self.db.transaction() as connection:
            if not chain.append_on(connection, case_id, audit, stored):
                return False
            connection.execute(
                _UPDATE_CASE, {"key": case_id, "churn_class": churn_class, "updated_at": audit.at}
            )
            facts.churn_corrected(connection, case_id, churn_class)
            return True

    # ------------------------------------------------------------ writes (activities only)

    def record_case_opened(
        self,
        opened: CaseOpened,
        owner: str | None = None,
        value_tier: str | None = None,
        country: str | None = None,
    ) -> None:
        c = opened.case
        row = CaseRecord(
            id=c.case_id,
            workflow_id=opened.workflow_id,
            run_id=opened.run_id,
            customer_id=c.customer_id,
            trigger=c.trigger,
            churn_class=c.churn_class,
            evidence=c.evidence,
            policy=c.policy,
            stage=Stage.OPENED,
            opened_by=c.opened_by,
            owner=owner,
            value_tier=value_tier,
            country=country,
            opened_at=opened.audit.at,
            opened_month=opened_month_of(opened.audit.at),
            updated_at=opened.audit.at,
        )
        values = self.sealed.seal(_CASES.name, c.customer_id, _columns(_CASES, row))
        stored = self._stored_audit(c.case_id, opened.audit, c.customer_id)
        with self.db.transaction() as connection:
            if connection.execute(_CASE_EXISTS, {"key": c.case_id}).first() is None:
                connection.execute(insert(_CASES), values)
            chain.append_on(connection, c.case_id, opened.audit, stored)

    def add_evidence(self, added: EvidenceAdded) -> None:
        """Further evidence, kept on the case under `further` (once per audit event)."""
        case = self.get_case(added.case_id)
        if case is None:
            raise LookupError(f"no case {added.case_id}")
        further = [*case.evidence.get("further", [])]
        further.append(
            {
                "trigger": str(added.trigger),
                "at": added.audit.at.isoformat(),
                "by": added.audit.actor,
                "evidence": added.evidence,
            }
        )
        evidence = self.sealed.seal(
            _CASES.name, case.customer_id, {"evidence": {**case.evidence, "further": further}}
        )
        stored = self._stored_audit(added.case_id, added.audit, case.customer_id)
        with self.db.transaction() as connection:
            if chain.append_on(connection, added.case_id, added.audit, stored):
                connection.execute(_UPDATE_CASE, {"key": added.case_id, **evidence})

    def apply_case_change(self, change: CaseChange) -> None:
        values: dict[str, Any] = {"updated_at": change.audit.at}
        if change.stage is not None:
            values["stage"] = change.stage
        if change.outcome is not None:
            values["outcome"] = change.outcome
            values["closed_at"] = change.audit.at
        if change.effective_at is not None:
            values["effective_at"] = change.effective_at
        if change.retention_end is not None:
            values["retention_end"] = change.retention_end
            values["next_deletion_at"] = change.retention_end
        if change.request_due_at is not None:
            values["request_due_at"] = change.request_due_at
        if change.request_answered_at is not None:
            values["request_answered_at"] = change.request_answered_at
        if change.category_clocks is not None:
            kept = [c.ends_at for c in change.category_clocks if c.deleted_at is None]
            values["next_deletion_at"] = min(kept) if kept else None
            values["category_clocks"] = [
                {
                    "category": str(c.category),
                    "ends_at": c.ends_at.isoformat(),
                    "deleted_at": c.deleted_at.isoformat() if c.deleted_at else None,
                }
                for c in change.category_clocks
            ]
        stored = self._stored_audit(change.case_id, change.audit)
        with self.db.transaction() as connection:
            found = connection.execute(_CASE_BEFORE, {"key": change.case_id}).first()
            if found is None:
                raise LookupError(f"no case {change.case_id}")
            # The audit event and the change are one transaction: an event written means the
            # change was too, by an earlier attempt.
            if chain.append_on(connection, change.case_id, change.audit, stored):
                before = dict(found._mapping)
                values |= facts.case_changed(
                    connection,
                    change.case_id,
                    before,
                    change.stage,
                    change.audit.action,
                    change.audit.at,
                )
                connection.execute(_UPDATE_CASE, {"key": change.case_id, **values})
                after = {**before, **values}
                forecast.move_case(
                    connection, change.case_id, forecast.due_days(before), forecast.due_days(after)
                )
                facts.move_load(
                    connection, before["owner"], facts.load_keys(before), facts.load_keys(after)
                )

    def open_task(self, task: OpenTask) -> None:
        row = TaskRecord(
            id=task.task_id,
            case_id=task.case_id,
            customer_id=task.customer_id,
            kind=task.kind,
            status=TaskStatus.OPEN,
            assignee=task.assignee,
            created_at=task.audit.at,
            due_at=task.due_at,
            note=task.note,
        )
        values = self.sealed.seal(_TASKS.name, task.customer_id, _columns(_TASKS, row))
        stored = self._stored_audit(task.case_id, task.audit, task.customer_id)
        with self.db.transaction() as connection:
            opened = connection.execute(_TASK_EXISTS, {"key": task.task_id}).first() is None
            if opened:
                connection.execute(insert(_TASKS), values)
            if task.inbound_id is not None:  # the reply the task is about leads to it
                connection.execute(
                    sa_update(_INBOUND)
                    .where(_INBOUND.c.id == task.inbound_id)
                    .values(task_id=task.task_id)
                )
            chain.append_on(connection, task.case_id, task.audit, stored)
            if opened:  # after the append, which holds the chain head: one writer at a time
                facts.task_opened(connection, values)

    def reassign_task(self, change: TaskReassigned) -> None:
        with self.db.transaction() as connection:
            found = connection.execute(_TASK_STATE, {"key": change.task_id}).first()
        if found is None:
            raise LookupError(f"no task {change.task_id}")
        values: dict[str, Any] = {"assignee": change.assignee}
        if change.note:
            values |= self.sealed.seal(_TASKS.name, found.customer_id, {"note": change.note})
        stored = self._stored_audit(found.case_id, change.audit, found.customer_id)
        with self.db.transaction() as connection:
            if change.escalated:
                connection.execute(
                    sa_update(_TASKS)
                    .where(_TASKS.c.id == change.task_id, _TASKS.c.escalated_at.is_(None))
                    .values(escalated_at=change.audit.at)
                )
            connection.execute(_UPDATE_TASK, {"key": change.task_id, **values})
            chain.append_on(connection, found.case_id, change.audit, stored)
            facts.task_reassigned(connection, change.task_id, change.assignee, change.escalated)

    def close_task(self, close: CloseTask) -> None:
        with self.db.transaction() as connection:
            found = connection.execute(_TASK_STATE, {"key": close.task_id}).first()
        if found is None:
            raise LookupError(f"no task {close.task_id}")
        case_id, _status, customer_id, due_at = found
        comment = self.sealed.seal(_TASKS.name, customer_id, {"comment": close.comment})
        stored = self._stored_audit(case_id, close.audit, customer_id)
        with self.db.transaction() as connection:
            connection.execute(
                sa_update(_TASKS)
                .where(_TASKS.c.id == close.task_id, _TASKS.c.status == TaskStatus.OPEN)
                .values(
                    status=close.status,
                    decision=close.decision,
                    decided_by=close.decided_by,
                    decided_at=close.audit.at,
                    defer_until=close.defer_until,
                    **comment,
                )
            )
            chain.append_on(connection, case_id, close.audit, stored)
            facts.task_closed(connection, close.task_id, close.decided_by, close.audit.at, due_at)

    def record_hold_placed(self, hold: HoldPlaced) -> None:
        customer_id = self._customer_of(hold.case_id)
        row = LegalHoldRecord(
            id=hold.hold_id,
            case_id=hold.case_id,
            reason=hold.reason,
            reference=hold.reference,
            placed_by=hold.placed_by,
            placed_at=hold.audit.at,
            review_at=hold.review_at,
        )
        values = _columns(_HOLDS, row)
        if customer_id is not None:
            values = self.sealed.seal(_HOLDS.name, customer_id, values)
        stored = self._stored_audit(hold.case_id, hold.audit, customer_id)
        with self.db.transaction() as connection:
            placed = connection.execute(_HOLD, {"key": hold.hold_id}).first() is None
            if placed:
                connection.execute(insert(_HOLDS), values)
            chain.append_on(connection, hold.case_id, hold.audit, stored)
            if placed:
                _count_holds(connection, hold.case_id, placed=True)

    def mark_hold_reminded(self, hold_id: str, audit: AuditEntry) -> None:
        with self.db.transaction() as connection:
            found = connection.execute(_HOLD, {"key": hold_id}).first()
        if found is None or found.review_reminded_at is not None:
            return
        stored = self._stored_audit(found.case_id, audit)
        with self.db.transaction() as connection:
            connection.execute(_UPDATE_HOLD, {"key": hold_id, "review_reminded_at": audit.at})
            chain.append_on(connection, found.case_id, audit, stored)

    def record_hold_released(self, release: HoldReleased) -> None:
        with self.db.transaction() as connection:
            found = connection.execute(_HOLD, {"key": release.hold_id}).first()
        if found is None:
            raise LookupError(f"no legal hold {release.hold_id}")
        customer_id = self._customer_of(found.case_id)
        values: dict[str, Any] = {"release_reason": release.reason}
        if customer_id is not None:
            values = self.sealed.seal(_HOLDS.name, customer_id, values)
        stored = self._stored_audit(found.case_id, release.audit, customer_id)
        with self.db.transaction() as connection:
            released = connection.execute(
                sa_update(_HOLDS)
                .where(_HOLDS.c.id == release.hold_id, _HOLDS.c.released_at.is_(None))
                .values(released_at=release.audit.at, released_by=release.released_by, **values)
            ).rowcount
            chain.append_on(connection, found.case_id, release.audit, stored)
            if released:
                _count_holds(connection, found.case_id, placed=False)


def _count_holds(connection: Connection, case_id: str, placed: bool) -> None:
    """After a hold was placed or released: the case's deletions move between due and held
    when it was the first hold placed or the last one released."""
    active = forecast.active_holds(connection, case_id)
    if active == (1 if placed else 0):
        found = connection.execute(_CASE_CLOCKS, {"key": case_id}).first()
        if found is not None:
            forecast.hold_changed(connection, found._mapping, held=placed)


def case_repository(settings: Settings, db: Database) -> CaseRepository:
    """The read model with the customer's words sealed under keys of the settings' master
    keys: the one place it is built."""
    return CaseRepository(db, SealedWords(data_keys_from(settings, db)))
