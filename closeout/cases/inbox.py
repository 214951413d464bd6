"""Task queries for inboxes: who has what to do, with the case facts to sort and filter by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import case as case_when
from sqlalchemy import func
from sqlmodel import col, select

from closeout.cases.models import CaseRecord, TaskRecord
from closeout.cases.reads import Page
from closeout.cases.sealing import SealedWords
from closeout.db import Database
from closeout.domain import TaskStatus, ValueTier

# A task is "due soon" this long before its due date.
DUE_SOON = timedelta(days=2)


class InboxSort(StrEnum):
    DUE = "due"
    NEWEST = "newest"
    VALUE = "value"


class DueFilter(StrEnum):
    OVERDUE = "overdue"
    SOON = "soon"


@dataclass(frozen=True)
class InboxFilter:
    # Whose tasks: these assignees, or everyone's when None.
    assignees: Sequence[str] | None
    status: TaskStatus | None = TaskStatus.OPEN
    kind: str | None = None
    trigger: str | None = None
    due: DueFilter | None = None
    sort: InboxSort = InboxSort.DUE
    limit: int = 25
    offset: int = 0


@dataclass(frozen=True)
class InboxRow:
    task: TaskRecord
    case: CaseRecord


_TIER_RANK = case_when(
    (col(CaseRecord.value_tier) == ValueTier.KEY, 0),
    (col(CaseRecord.value_tier) == ValueTier.HIGH, 1),
    else_=2,
)


class TaskQueries:
    def __init__(self, db: Database, sealed: SealedWords) -> None:
        self.db = db
        self.sealed = sealed

    def inbox(self, f: InboxFilter, now: datetime) -> Page[InboxRow]:
        query = select(TaskRecord, CaseRecord).join(
            CaseRecord, col(CaseRecord.id) == col(TaskRecord.case_id)
        )
        if f.assignees is not None:
            query = query.where(col(TaskRecord.assignee).in_(f.assignees))
        if f.status is not None:
            query = query.where(TaskRecord.status == f.status)
        if f.kind:
            query = query.where(TaskRecord.kind == f.kind)
        if f.trigger:
            query = query.where(CaseRecord.trigger == f.trigger)
        if f.due is DueFilter.OVERDUE:
            query = query.where(col(TaskRecord.due_at) < now)
        elif f.due is DueFilter.SOON:
            query = query.where(
                col(TaskRecord.due_at) >= now, col(TaskRecord.due_at) < now + DUE_SOON
            )
        orders: dict[InboxSort, list[Any]] = {
            InboxSort.DUE: [col(TaskRecord.due_at).is_(None), col(TaskRecord.due_at)],
            InboxSort.NEWEST: [col(TaskRecord.created_at).desc()],
            InboxSort.VALUE: [_TIER_RANK, col(TaskRecord.due_at)],
        }
        order = orders[f.sort]
        with self.db.session() as session:
            total = session.exec(select(func.count()).select_from(query.subquery())).one()
            rows = session.exec(
                query.order_by(*order, col(TaskRecord.id)).limit(f.limit).offset(f.offset)
            ).all()
        tasks = self.sealed.open([t for t, _c in rows])
        cases = self.sealed.open([c for _t, c in rows])
        return Page([InboxRow(t, c) for t, c in zip(tasks, cases, strict=True)], int(total))

    def counts(self, assignees: Sequence[str]) -> dict[str, int]:
        """Open tasks per assignee, for the inbox's tabs."""
        with self.db.session() as session:
            rows = session.exec(
                select(TaskRecord.assignee, func.count())
                .where(
                    col(TaskRecord.assignee).in_(assignees), TaskRecord.status == TaskStatus.OPEN
                )
                .group_by(col(TaskRecord.assignee))
            ).all()
            return {a: int(n) for a, n in rows}
