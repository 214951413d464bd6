"""What the API reads of the read model: cases, tasks, holds, notices and a case's audit, with
the customer's words opened (closeout/cases/sealing.py) for those allowed to see them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from closeout.audit.models import AuditEvent
from closeout.cases import forecast
from closeout.cases.models import CaseRecord, LegalHoldRecord, NoticeRecord, TaskRecord
from closeout.cases.sealing import SealedWords
from closeout.db import Database
from closeout.domain import Stage

T = TypeVar("T")


@dataclass(frozen=True)
class CaseFile:
    """What a case's pages show beside the case: its tasks, timeline, and the notices or
    holds asked for (empty when not), read in one transaction."""

    tasks: Sequence[TaskRecord]
    timeline: Sequence[AuditEvent]
    notices: Sequence[NoticeRecord] = ()
    holds: Sequence[LegalHoldRecord] = ()


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


class CaseReads:
    db: Database
    sealed: SealedWords

    def get_case(self, case_id: str) -> CaseRecord | None:
        with self.db.session() as session:
            found = session.get(CaseRecord, case_id)
        return self.sealed.open_one(found)

    def open_case_for(self, customer_id: str) -> CaseRecord | None:
        with self.db.session() as session:
            found = session.exec(
                select(CaseRecord)
                .where(CaseRecord.customer_id == customer_id, col(CaseRecord.outcome).is_(None))
                .order_by(col(CaseRecord.opened_at).desc())
            ).first()
        return self.sealed.open_one(found)

    def cases_for_customer(self, customer_id: str) -> Sequence[CaseRecord]:
        with self.db.session() as session:
            rows = session.exec(
                select(CaseRecord)
                .where(CaseRecord.customer_id == customer_id)
                .order_by(col(CaseRecord.opened_at).desc())
            ).all()
        return self.sealed.open(rows)

    def customers_with_open_cases(self, customer_ids: Sequence[str]) -> set[str]:
        with self.db.session() as session:
            rows = session.exec(
                select(CaseRecord.customer_id).where(
                    col(CaseRecord.customer_id).in_(customer_ids), col(CaseRecord.outcome).is_(None)
                )
            ).all()
            return set(rows)

    def open_requests(self, limit: int = 200) -> Sequence[CaseRecord]:
        """Customers' own requests not yet answered, the soonest due (the overdue) first."""
        with self.db.session() as session:
            found = session.exec(
                select(CaseRecord)
                .where(
                    col(CaseRecord.request_due_at).is_not(None),
                    col(CaseRecord.request_answered_at).is_(None),
                    col(CaseRecord.outcome).is_(None),
                )
                .order_by(col(CaseRecord.request_due_at), col(CaseRecord.id))
                .limit(limit)
            ).all()
        return self.sealed.open(found)

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
        return Page(self.sealed.open(items), total, capped)

    def open_cases_under(self, policy: str) -> Sequence[CaseRecord]:
        """The open cases that run under a policy."""
        with self.db.session() as session:
            rows = session.exec(
                select(CaseRecord)
                .where(CaseRecord.policy == policy, col(CaseRecord.outcome).is_(None))
                .order_by(col(CaseRecord.opened_at), col(CaseRecord.id))
            ).all()
        return self.sealed.open(rows)

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
            rows = session.exec(
                query.order_by(col(CaseRecord.next_deletion_at), col(CaseRecord.id)).limit(limit)
            ).all()
        return self.sealed.open(rows)

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
        for h in self.sealed.open(rows):
            holds.setdefault(h.case_id, []).append(h)
        return holds

    def holds_due_for_review(self, now: datetime) -> Sequence[LegalHoldRecord]:
        """Active holds whose review date has come and whose reminder has not gone out."""
        with self.db.session() as session:
            rows = session.exec(
                select(LegalHoldRecord).where(
                    col(LegalHoldRecord.released_at).is_(None),
                    col(LegalHoldRecord.review_at).is_not(None),
                    col(LegalHoldRecord.review_at) <= now,
                    col(LegalHoldRecord.review_reminded_at).is_(None),
                )
            ).all()
        return self.sealed.open(rows)

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
            rows = session.exec(query.limit(limit)).all()
        return self.sealed.open(rows)

    def case_tasks(self, case_id: str, status: str | None = None) -> Sequence[TaskRecord]:
        query = _tasks_of(case_id)
        if status:
            query = query.where(TaskRecord.status == status)
        with self.db.session() as session:
            rows = session.exec(query).all()
        return self.sealed.open(rows)

    def case_audit(self, case_id: str) -> Sequence[AuditEvent]:
        with self.db.session() as session:
            rows = session.exec(_events_of(case_id)).all()
        return self.sealed.open_events(rows)

    def case_holds(self, case_id: str) -> Sequence[LegalHoldRecord]:
        with self.db.session() as session:
            rows = session.exec(_holds_of(case_id)).all()
        return self.sealed.open(rows)

    def case_notices(self, case_id: str) -> Sequence[NoticeRecord]:
        with self.db.session() as session:
            rows = session.exec(_notices_of(case_id)).all()
        return self.sealed.open(rows)

    def task_with_case(self, task_id: str) -> tuple[TaskRecord, CaseRecord] | None:
        """A task and its case, read together; None when either is unknown."""
        with self.db.session() as session:
            task = session.get(TaskRecord, task_id)
            case = session.get(CaseRecord, task.case_id) if task is not None else None
        if task is None or case is None:
            return None
        self.sealed.open([task, case])
        return task, case

    def case_file(self, case_id: str, *, notices: bool = False, holds: bool = False) -> CaseFile:
        """A case's tasks and timeline, and its notices or holds if asked, in one read."""
        with self.db.session() as session:
            tasks = session.exec(_tasks_of(case_id)).all()
            events = session.exec(_events_of(case_id)).all()
            sent = session.exec(_notices_of(case_id)).all() if notices else []
            held = session.exec(_holds_of(case_id)).all() if holds else []
        return CaseFile(
            tasks=self.sealed.open(tasks),
            timeline=self.sealed.open_events(events),
            notices=self.sealed.open(sent),
            holds=self.sealed.open(held),
        )

    def get_task(self, task_id: str) -> TaskRecord | None:
        with self.db.session() as session:
            found = session.get(TaskRecord, task_id)
        return self.sealed.open_one(found)

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
        return Page(self.sealed.open(items), int(total))


def _tasks_of(case_id: str) -> SelectOfScalar[TaskRecord]:
    return (
        select(TaskRecord)
        .where(TaskRecord.case_id == case_id)
        .order_by(col(TaskRecord.created_at), col(TaskRecord.id))
    )


def _events_of(case_id: str) -> SelectOfScalar[AuditEvent]:
    return (
        select(AuditEvent)
        .where(AuditEvent.case_id == case_id)
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    )


def _holds_of(case_id: str) -> SelectOfScalar[LegalHoldRecord]:
    return (
        select(LegalHoldRecord)
        .where(LegalHoldRecord.case_id == case_id)
        .order_by(col(LegalHoldRecord.placed_at))
    )


def _notices_of(case_id: str) -> SelectOfScalar[NoticeRecord]:
    return (
        select(NoticeRecord)
        .where(NoticeRecord.case_id == case_id)
        .order_by(col(NoticeRecord.created_at))
    )
