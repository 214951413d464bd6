"""All SQL of the read model. Every write is idempotent: a retried activity writes once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar
from uuid import NAMESPACE_URL, uuid5

from sqlalchemy import Table, and_, bindparam, func, insert, or_
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import Session, SQLModel, col, select

from closeout.audit import chain
from closeout.audit.models import AuditEvent
from closeout.cases import forecast
from closeout.cases.models import (
    ArchiveBundleRecord,
    CaseRecord,
    LegalHoldRecord,
    NoticeRecord,
    TaskRecord,
)
from closeout.contracts import (
    AuditEntry,
    BackupResult,
    CaseChange,
    CaseOpened,
    CloseTask,
    EvidenceAdded,
    HoldPlaced,
    HoldReleased,
    OpenTask,
    TaskReassigned,
)
from closeout.db import Database, table_of
from closeout.domain import Stage, TaskStatus


def _now() -> datetime:
    return datetime.now(UTC)


# The writes every case makes many times run as Core statements built once: building a
# statement, or the ORM's unit of work around a one-row change, costs more than running it.
_CASES = table_of(CaseRecord)
_TASKS = table_of(TaskRecord)
_CASE_EXISTS = sa_select(_CASES.c.id).where(_CASES.c.id == bindparam("key"))
# What decides when a case's deletions fall due (see `forecast.due_days`).
_CASE_CLOCKS = sa_select(
    _CASES.c.stage, _CASES.c.outcome, _CASES.c.category_clocks, _CASES.c.retention_end
).where(_CASES.c.id == bindparam("key"))
_UPDATE_CASE = sa_update(_CASES).where(_CASES.c.id == bindparam("key"))
_TASK_EXISTS = sa_select(_TASKS.c.id).where(_TASKS.c.id == bindparam("key"))
_TASK_STATE = sa_select(_TASKS.c.case_id, _TASKS.c.status).where(_TASKS.c.id == bindparam("key"))
_UPDATE_TASK = sa_update(_TASKS).where(_TASKS.c.id == bindparam("key"))
_NOTICES = table_of(NoticeRecord)
_NOTICE = sa_select(_NOTICES).where(_NOTICES.c.id == bindparam("key"))
_NOTICE_STATE = sa_select(
    _NOTICES.c.case_id, _NOTICES.c.status, _NOTICES.c.sealed.is_not(None).label("sealed")
).where(_NOTICES.c.id == bindparam("key"))
_UPDATE_NOTICE = sa_update(_NOTICES).where(_NOTICES.c.id == bindparam("key"))
_BUNDLES = table_of(ArchiveBundleRecord)
_BUNDLE = sa_select(_BUNDLES).where(_BUNDLES.c.id == bindparam("key"))
_BUNDLE_STATE = sa_select(_BUNDLES.c.verified_at, _BUNDLES.c.deleted_at).where(
    _BUNDLES.c.id == bindparam("key")
)
_UPDATE_BUNDLE = sa_update(_BUNDLES).where(_BUNDLES.c.id == bindparam("key"))


def _columns(table: Table, row: SQLModel) -> dict[str, Any]:
    """A model's values by column, defaults included, for a Core insert."""
    return {column.name: getattr(row, column.name) for column in table.columns}


def append_audit(session: Session, case_id: str | None, entry: AuditEntry) -> None:
    chain.append(session, case_id, entry)


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    # The count stopped at `total`: there are more (a list counts up to a bound it is asked
    # for, so a page costs the same however many rows match).
    capped: bool = False


def count_of(session: Session, query: Any, up_to: int | None) -> tuple[int, bool]:
    """How many rows `query` matches, or `up_to` and True when there are more."""
    if up_to is None:
        return int(session.exec(select(func.count()).select_from(query.subquery())).one()), False
    found = int(
        session.exec(select(func.count()).select_from(query.limit(up_to + 1).subquery())).one()
    )
    return min(found, up_to), found > up_to


class CaseRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------ writes (activities only)

    def record_case_opened(
        self, opened: CaseOpened, owner: str | None = None, value_tier: str | None = None
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
            opened_at=opened.audit.at,
            updated_at=opened.audit.at,
        )
        with self.db.transaction() as connection:
            if connection.execute(_CASE_EXISTS, {"key": c.case_id}).first() is None:
                connection.execute(insert(_CASES), _columns(_CASES, row))
            chain.append_on(connection, c.case_id, opened.audit)

    def add_evidence(self, added: EvidenceAdded) -> None:
        """Further evidence, kept on the case under `further` (once per audit event)."""
        with self.db.session() as session:
            case = session.get(CaseRecord, added.case_id)
            if case is None:
                raise LookupError(f"no case {added.case_id}")
            if session.get(AuditEvent, added.audit.event_id) is None:
                further = [*case.evidence.get("further", [])]
                further.append(
                    {
                        "trigger": str(added.trigger),
                        "at": added.audit.at.isoformat(),
                        "by": added.audit.actor,
                        "evidence": added.evidence,
                    }
                )
                case.evidence = {**case.evidence, "further": further}
                session.add(case)
            append_audit(session, added.case_id, added.audit)

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
        with self.db.transaction() as connection:
            found = connection.execute(_CASE_CLOCKS, {"key": change.case_id}).first()
            if found is None:
                raise LookupError(f"no case {change.case_id}")
            # The audit event and the change are one transaction: an event written means the
            # change was too, by an earlier attempt.
            if chain.append_on(connection, change.case_id, change.audit):
                connection.execute(_UPDATE_CASE, {"key": change.case_id, **values})
                before = dict(found._mapping)
                forecast.move_case(
                    connection,
                    change.case_id,
                    forecast.due_days(before),
                    forecast.due_days({**before, **values}),
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
        with self.db.transaction() as connection:
            if connection.execute(_TASK_EXISTS, {"key": task.task_id}).first() is None:
                connection.execute(insert(_TASKS), _columns(_TASKS, row))
            chain.append_on(connection, task.case_id, task.audit)

    def reassign_task(self, change: TaskReassigned) -> None:
        with self.db.session() as session:
            task = session.get(TaskRecord, change.task_id)
            if task is None:
                raise LookupError(f"no task {change.task_id}")
            task.assignee = change.assignee
            if change.note:
                task.note = change.note
            if change.escalated and task.escalated_at is None:
                task.escalated_at = change.audit.at
            session.add(task)
            append_audit(session, task.case_id, change.audit)

    def close_task(self, close: CloseTask) -> None:
        with self.db.transaction() as connection:
            found = connection.execute(_TASK_STATE, {"key": close.task_id}).first()
            if found is None:
                raise LookupError(f"no task {close.task_id}")
            case_id, status = found
            if status == TaskStatus.OPEN:
                connection.execute(
                    _UPDATE_TASK,
                    {
                        "key": close.task_id,
                        "status": close.status,
                        "decision": close.decision,
                        "comment": close.comment,
                        "decided_by": close.decided_by,
                        "decided_at": close.audit.at,
                        "defer_until": close.defer_until,
                    },
                )
            chain.append_on(connection, case_id, close.audit)

    def record_hold_placed(self, hold: HoldPlaced) -> None:
        with self.db.session() as session:
            placed = session.get(LegalHoldRecord, hold.hold_id) is None
            if placed:
                session.add(
                    LegalHoldRecord(
                        id=hold.hold_id,
                        case_id=hold.case_id,
                        reason=hold.reason,
                        reference=hold.reference,
                        placed_by=hold.placed_by,
                        placed_at=hold.audit.at,
                        review_at=hold.review_at,
                    )
                )
            append_audit(session, hold.case_id, hold.audit)
            if placed:
                self._count_holds(session, hold.case_id, placed=True)

    def holds_due_for_review(self, now: datetime) -> Sequence[LegalHoldRecord]:
        """Active holds whose review date has come and whose reminder has not gone out."""
        with self.db.session() as session:
            return session.exec(
                select(LegalHoldRecord).where(
                    col(LegalHoldRecord.released_at).is_(None),
                    col(LegalHoldRecord.review_at).is_not(None),
                    col(LegalHoldRecord.review_at) <= now,
                    col(LegalHoldRecord.review_reminded_at).is_(None),
                )
            ).all()

    def mark_hold_reminded(self, hold_id: str, audit: AuditEntry) -> None:
        with self.db.session() as session:
            hold = session.get(LegalHoldRecord, hold_id)
            if hold is None or hold.review_reminded_at is not None:
                return
            hold.review_reminded_at = audit.at
            session.add(hold)
            append_audit(session, hold.case_id, audit)

    def holds(self, active: bool, limit: int = 200) -> Sequence[LegalHoldRecord]:
        """Active holds by review date, or released ones, most recent first."""
        query = select(LegalHoldRecord)
        if active:
            query = query.where(col(LegalHoldRecord.released_at).is_(None)).order_by(
                col(LegalHoldRecord.review_at).is_(None),
                col(LegalHoldRecord.review_at),
                col(LegalHoldRecord.placed_at),
            )
        else:
            query = query.where(col(LegalHoldRecord.released_at).is_not(None)).order_by(
                col(LegalHoldRecord.released_at).desc()
            )
        with self.db.session() as session:
            return session.exec(query.limit(limit)).all()

    def record_hold_released(self, release: HoldReleased) -> None:
        with self.db.session() as session:
            hold = session.get(LegalHoldRecord, release.hold_id)
            if hold is None:
                raise LookupError(f"no legal hold {release.hold_id}")
            released = hold.released_at is None
            if released:
                hold.released_at = release.audit.at
                hold.released_by = release.released_by
                hold.release_reason = release.reason
                session.add(hold)
            append_audit(session, hold.case_id, release.audit)
            if released:
                self._count_holds(session, hold.case_id, placed=False)

    @staticmethod
    def _count_holds(session: Session, case_id: str, placed: bool) -> None:
        """After a hold was placed or released: the case's deletions move between due and
        held when it was the first hold placed or the last one released."""
        session.flush()
        connection = session.connection()
        active = forecast.active_holds(connection, case_id)
        if active == (1 if placed else 0):
            found = connection.execute(_CASE_CLOCKS, {"key": case_id}).first()
            if found is not None:
                forecast.hold_changed(connection, found._mapping, held=placed)

    def erase_customer_audit(self, customer_id: str, erasure: AuditEntry) -> list[int]:
        """Erase the personal content of every audit event of the customer's cases."""
        with self.db.session() as session:
            case_ids = session.exec(
                select(CaseRecord.id).where(CaseRecord.customer_id == customer_id)
            ).all()
            erased: list[int] = []
            for n, case_id in enumerate(sorted(case_ids)):
                entry = (
                    erasure
                    if n == 0
                    else replace(
                        erasure, event_id=str(uuid5(NAMESPACE_URL, f"{erasure.event_id}/{case_id}"))
                    )
                )
                erased += chain.erase_case_content(session, case_id, entry)
            return erased

    def append_audit(self, case_id: str | None, entry: AuditEntry) -> None:
        with self.db.transaction() as connection:
            chain.append_on(connection, case_id, entry)

    # outbox

    def notice(self, notice_id: str) -> NoticeRecord | None:
        with self.db.session() as session:
            return session.get(NoticeRecord, notice_id)

    def prepare_notice(
        self, notice_id: str, case_id: str, kind: str, message_id: str
    ) -> NoticeRecord:
        with self.db.transaction() as connection:
            found = connection.execute(_NOTICE, {"key": notice_id}).first()
            if found is not None:
                return NoticeRecord.model_validate(found._mapping)
            notice = NoticeRecord(
                id=notice_id,
                case_id=case_id,
                kind=kind,
                message_id=message_id,
                status="pending",
                created_at=_now(),
            )
            connection.execute(insert(_NOTICES), _columns(_NOTICES, notice))
            return notice

    def begin_sending(self, notice_id: str) -> bool:
        """Mark the notice as handed to the SMTP server; True if an earlier attempt was cut
        off there (the server may or may not have accepted it)."""
        with self.db.transaction() as connection:
            found = connection.execute(_NOTICE_STATE, {"key": notice_id}).first()
            if found is None:
                raise LookupError(f"no notice {notice_id}")
            if found.status == "sending":
                return True
            connection.execute(_UPDATE_NOTICE, {"key": notice_id, "status": "sending"})
            return False

    def release_sending(self, notice_id: str) -> None:
        """The attempt failed before the server took the message: nothing was delivered."""
        with self.db.session() as session:
            notice = session.get(NoticeRecord, notice_id)
            if notice is not None and notice.status == "sending":
                notice.status = "pending"
                session.add(notice)

    def seal_notice(self, notice_id: str, recipient: str, message: dict[str, str]) -> None:
        with self.db.session() as session:
            notice = session.get(NoticeRecord, notice_id)
            if notice is None:
                raise LookupError(f"no notice {notice_id}")
            if notice.status == "pending":
                notice.recipient, notice.sealed, notice.status = recipient, message, "sealed"
                session.add(notice)

    def scrub_recipients(self, customer_id: str, sealed_too: bool = False) -> int:
        """Forget where the customer's notices went (sealed ones wait to be sent first,
        unless `sealed_too`: a deleted customer found again gets no message)."""
        with self.db.session() as session:
            query = (
                select(NoticeRecord)
                .join(CaseRecord, col(CaseRecord.id) == col(NoticeRecord.case_id))
                .where(
                    CaseRecord.customer_id == customer_id,
                    or_(
                        col(NoticeRecord.recipient).is_not(None),
                        col(NoticeRecord.sealed).is_not(None),
                    ),
                )
            )
            if not sealed_too:
                query = query.where(col(NoticeRecord.sealed).is_(None))
            rows = session.exec(query).all()
            for row in rows:
                row.recipient = None
                row.sealed = None
                session.add(row)
            return len(rows)

    def outbox_addresses(self, customer_id: str) -> int:
        """Notices of the customer's cases that still hold an address or a sealed message."""
        with self.db.session() as session:
            return int(
                session.exec(
                    select(func.count())
                    .select_from(NoticeRecord)
                    .join(CaseRecord, col(CaseRecord.id) == col(NoticeRecord.case_id))
                    .where(
                        CaseRecord.customer_id == customer_id,
                        or_(
                            col(NoticeRecord.recipient).is_not(None),
                            col(NoticeRecord.sealed).is_not(None),
                        ),
                    )
                ).one()
            )

    def mark_notice(
        self, notice_id: str, status: str, recipient: str | None, audit: AuditEntry
    ) -> None:
        with self.db.transaction() as connection:
            found = connection.execute(_NOTICE_STATE, {"key": notice_id}).first()
            if found is None:
                raise LookupError(f"no notice {notice_id}")
            connection.execute(
                _UPDATE_NOTICE,
                {
                    "key": notice_id,
                    "status": status,
                    "sent_at": _now() if status == "sent" else None,
                    # A sealed message is sent once and then forgotten, its address with it.
                    "recipient": None if found.sealed else recipient,
                    "sealed": None,
                },
            )
            chain.append_on(connection, found.case_id, audit)

    # archive bundles

    def record_bundle(
        self, case_id: str, customer_id: str, result: BackupResult, category: str | None = None
    ) -> None:
        written: dict[str, Any] = {
            "location": result.location,
            "manifest_sha256": result.manifest_sha256,
            "size_bytes": result.size_bytes,
            "record_counts": result.record_counts,
        }
        with self.db.transaction() as connection:
            if connection.execute(_BUNDLE_STATE, {"key": result.bundle_id}).first() is not None:
                connection.execute(_UPDATE_BUNDLE, {"key": result.bundle_id, **written})
                return
            bundle = ArchiveBundleRecord(
                id=result.bundle_id,
                case_id=case_id,
                customer_id=customer_id,
                location=result.location,
                manifest_sha256=result.manifest_sha256,
                size_bytes=result.size_bytes,
                record_counts=result.record_counts,
                category=category,
                created_at=_now(),
            )
            connection.execute(insert(_BUNDLES), _columns(_BUNDLES, bundle))

    def bundle(self, bundle_id: str) -> ArchiveBundleRecord | None:
        with self.db.transaction() as connection:
            found = connection.execute(_BUNDLE, {"key": bundle_id}).first()
        return None if found is None else ArchiveBundleRecord.model_validate(found._mapping)

    def live_bundles(self, case_id: str) -> Sequence[ArchiveBundleRecord]:
        """The case's bundles not yet deleted, whole backup first, then by category."""
        with self.db.session() as session:
            rows = session.exec(
                select(ArchiveBundleRecord).where(
                    ArchiveBundleRecord.case_id == case_id,
                    col(ArchiveBundleRecord.deleted_at).is_(None),
                )
            ).all()
        return sorted(rows, key=lambda r: (r.category is not None, r.category or "", r.id))

    def mark_bundle(self, bundle_id: str, *, verified: bool = False, deleted: bool = False) -> None:
        with self.db.transaction() as connection:
            found = connection.execute(_BUNDLE_STATE, {"key": bundle_id}).first()
            if found is None:
                return
            marks: dict[str, datetime] = {}
            if verified and found.verified_at is None:
                marks["verified_at"] = _now()
            if deleted and found.deleted_at is None:
                marks["deleted_at"] = _now()
            if marks:
                connection.execute(_UPDATE_BUNDLE, {"key": bundle_id, **marks})

    # ------------------------------------------------------------ reads (API)

    def get_case(self, case_id: str) -> CaseRecord | None:
        with self.db.session() as session:
            return session.get(CaseRecord, case_id)

    def open_case_for(self, customer_id: str) -> CaseRecord | None:
        with self.db.session() as session:
            return session.exec(
                select(CaseRecord)
                .where(CaseRecord.customer_id == customer_id, col(CaseRecord.outcome).is_(None))
                .order_by(col(CaseRecord.opened_at).desc())
            ).first()

    def cases_for_customer(self, customer_id: str) -> Sequence[CaseRecord]:
        with self.db.session() as session:
            return session.exec(
                select(CaseRecord)
                .where(CaseRecord.customer_id == customer_id)
                .order_by(col(CaseRecord.opened_at).desc())
            ).all()

    def customers_with_open_cases(self, customer_ids: Sequence[str]) -> set[str]:
        with self.db.session() as session:
            rows = session.exec(
                select(CaseRecord.customer_id).where(
                    col(CaseRecord.customer_id).in_(customer_ids), col(CaseRecord.outcome).is_(None)
                )
            ).all()
            return set(rows)

    def list_cases(
        self,
        *,
        stage: str | None,
        outcome: str | None,
        open_only: bool | None,
        limit: int,
        offset: int,
        trigger: str | None = None,
        owner: str | None = None,
        count_up_to: int | None = None,
    ) -> Page[CaseRecord]:
        query = select(CaseRecord)
        if trigger:
            query = query.where(CaseRecord.trigger == trigger)
        if owner:
            query = query.where(CaseRecord.owner == owner)
        if stage:
            query = query.where(CaseRecord.stage == stage)
        if outcome:
            query = query.where(CaseRecord.outcome == outcome)
        if open_only is True:
            query = query.where(col(CaseRecord.outcome).is_(None))
        elif open_only is False:
            query = query.where(col(CaseRecord.outcome).is_not(None))
        with self.db.session() as session:
            total, capped = count_of(session, query, count_up_to)
            items = session.exec(
                # Both descending, so the index in this order serves it (ties are rare).
                query.order_by(col(CaseRecord.opened_at).desc(), col(CaseRecord.id).desc())
                .limit(limit)
                .offset(offset)
            ).all()
            return Page(items, total, capped)

    def open_cases_under(self, policy: str) -> Sequence[CaseRecord]:
        """The open cases that run under a policy."""
        with self.db.session() as session:
            return session.exec(
                select(CaseRecord)
                .where(CaseRecord.policy == policy, col(CaseRecord.outcome).is_(None))
                .order_by(col(CaseRecord.opened_at), col(CaseRecord.id))
            ).all()

    def retention_clocks(
        self, due_before: datetime | None, after: tuple[datetime, str] | None, limit: int
    ) -> Sequence[CaseRecord]:
        """Archived cases waiting for their next deletion, soonest first: `limit` of them
        after the case `after` names (its next deletion and id), read in index order."""
        query = select(CaseRecord).where(
            CaseRecord.stage == Stage.RETENTION,
            col(CaseRecord.outcome).is_(None),
            col(CaseRecord.next_deletion_at).is_not(None),
        )
        if due_before is not None:
            query = query.where(col(CaseRecord.next_deletion_at) < due_before)
        if after is not None:
            at, case_id = after
            query = query.where(
                or_(
                    col(CaseRecord.next_deletion_at) > at,
                    and_(col(CaseRecord.next_deletion_at) == at, col(CaseRecord.id) > case_id),
                )
            )
        with self.db.session() as session:
            return session.exec(
                query.order_by(col(CaseRecord.next_deletion_at), col(CaseRecord.id)).limit(limit)
            ).all()

    def deletions_due(self, before: date) -> list[tuple[date, bool, int]]:
        """Deletions due before a day (overdue ones too), per day, held or not."""
        with self.db.transaction() as connection:
            return forecast.due_until(connection, before)

    def active_holds(self, case_ids: Sequence[str]) -> dict[str, list[LegalHoldRecord]]:
        with self.db.session() as session:
            rows = session.exec(
                select(LegalHoldRecord).where(
                    col(LegalHoldRecord.case_id).in_(case_ids),
                    col(LegalHoldRecord.released_at).is_(None),
                )
            ).all()
        holds: dict[str, list[LegalHoldRecord]] = {}
        for h in rows:
            holds.setdefault(h.case_id, []).append(h)
        return holds

    def case_tasks(self, case_id: str, status: str | None = None) -> Sequence[TaskRecord]:
        query = select(TaskRecord).where(TaskRecord.case_id == case_id)
        if status:
            query = query.where(TaskRecord.status == status)
        with self.db.session() as session:
            return session.exec(
                query.order_by(col(TaskRecord.created_at), col(TaskRecord.id))
            ).all()

    def case_audit(self, case_id: str) -> Sequence[AuditEvent]:
        with self.db.session() as session:
            return session.exec(
                select(AuditEvent)
                .where(AuditEvent.case_id == case_id)
                .order_by(col(AuditEvent.at), col(AuditEvent.id))
            ).all()

    def case_holds(self, case_id: str) -> Sequence[LegalHoldRecord]:
        with self.db.session() as session:
            return session.exec(
                select(LegalHoldRecord)
                .where(LegalHoldRecord.case_id == case_id)
                .order_by(col(LegalHoldRecord.placed_at))
            ).all()

    def case_notices(self, case_id: str) -> Sequence[NoticeRecord]:
        with self.db.session() as session:
            return session.exec(
                select(NoticeRecord)
                .where(NoticeRecord.case_id == case_id)
                .order_by(col(NoticeRecord.created_at))
            ).all()

    def get_task(self, task_id: str) -> TaskRecord | None:
        with self.db.session() as session:
            return session.get(TaskRecord, task_id)

    def list_tasks(
        self,
        *,
        status: str | None,
        assignee: str | None,
        limit: int,
        offset: int,
        among: Sequence[str] | None = None,
    ) -> Page[TaskRecord]:
        query = select(TaskRecord)
        if among is not None:
            query = query.where(col(TaskRecord.assignee).in_(among))
        if status:
            query = query.where(TaskRecord.status == status)
        if assignee:
            query = query.where(TaskRecord.assignee == assignee)
        with self.db.session() as session:
            total = session.exec(select(func.count()).select_from(query.subquery())).one()
            items = session.exec(
                query.order_by(
                    col(TaskRecord.due_at), col(TaskRecord.created_at), col(TaskRecord.id)
                )
                .limit(limit)
                .offset(offset)
            ).all()
            return Page(items, int(total))
