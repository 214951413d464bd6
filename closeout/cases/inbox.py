"""Task queries for inboxes: who has what to do, with the case facts to sort and filter by."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import case as case_when
from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from closeout.cases.models import CaseRecord, TaskRecord
from closeout.cases.reads import Page, count_of
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
    # Count the matching tasks up to this many (all when None).
    count_up_to: int | None = None


@dataclass(frozen=True)
class InboxRow:
    task: TaskRecord
    case: CaseRecord


_TIER_RANK = case_when(
    (col(CaseRecord.value_tier) == ValueTier.KEY, 0),
    (col(CaseRecord.value_tier) == ValueTier.HIGH, 1),
    else_=2,
)


Row = tuple[TaskRecord, CaseRecord]


def _soonest_due(
    session: Session, queries: Sequence[Select[TaskRecord, CaseRecord]], offset: int, limit: int
) -> list[Row]:
    """Soonest due first, tasks without a due date last, by id among equals: each query
    read in index order (dated, then undated) up to the page's end, and merged."""

    def merged(extra: Any, order: Any, key: Any) -> list[Row]:
        parts = [
            [(t, c) for t, c in session.exec(q.where(extra).order_by(*order).limit(offset + limit))]
            for q in queries
        ]
        return list(heapq.merge(*parts, key=key))

    dated = merged(
        col(TaskRecord.due_at).is_not(None),
        [col(TaskRecord.due_at), col(TaskRecord.id)],
        lambda r: (r[0].due_at, r[0].id),
    )
    page = dated[offset : offset + limit]
    if len(page) == limit:
        return page
    # Short of a page: every dated task was read, the undated ones follow them.
    skip = max(0, offset - len(dated))
    undated = merged(col(TaskRecord.due_at).is_(None), [col(TaskRecord.id)], lambda r: r[0].id)
    return page + undated[skip : skip + limit - len(page)]


class TaskQueries:
    def __init__(self, db: Database, sealed: SealedWords) -> None:
        self.db = db
        self.sealed = sealed

    def inbox(self, f: InboxFilter, now: datetime) -> Page[InboxRow]:
        on_task: list[Any] = []
        if f.status is not None:
            on_task.append(TaskRecord.status == f.status)
        if f.kind:
            on_task.append(TaskRecord.kind == f.kind)
        if f.due is DueFilter.OVERDUE:
            on_task.append(col(TaskRecord.due_at) < now)
        elif f.due is DueFilter.SOON:
            on_task += [col(TaskRecord.due_at) >= now, col(TaskRecord.due_at) < now + DUE_SOON]
        query = (
            select(TaskRecord, CaseRecord)
            .join(CaseRecord, col(CaseRecord.id) == col(TaskRecord.case_id))
            .where(*on_task)
        )
        # Counted from the tasks alone unless a case's fact filters them.
        counted = select(TaskRecord.id).where(*on_task)
        if f.trigger:
            query = query.where(CaseRecord.trigger == f.trigger)
            counted = counted.join(CaseRecord, col(CaseRecord.id) == col(TaskRecord.case_id)).where(
                CaseRecord.trigger == f.trigger
            )
        # One query per assignee, so each reads its tasks in the inbox index's order.
        per_assignee = (
            [query]
            if f.assignees is None
            else [query.where(TaskRecord.assignee == a) for a in dict.fromkeys(f.assignees)]
        )
        everyone = query
        if f.assignees is not None:
            everyone = query.where(col(TaskRecord.assignee).in_(f.assignees))
            counted = counted.where(col(TaskRecord.assignee).in_(f.assignees))
        with self.db.session() as session:
            total, capped = count_of(session, counted, f.count_up_to)
            if f.sort is InboxSort.DUE:
                rows = _soonest_due(session, per_assignee, f.offset, f.limit)
            else:
                orders: dict[InboxSort, list[Any]] = {
                    InboxSort.NEWEST: [col(TaskRecord.created_at).desc()],
                    InboxSort.VALUE: [_TIER_RANK, col(TaskRecord.due_at)],
                }
                rows = list(
                    session.exec(
                        everyone.order_by(*orders[f.sort], col(TaskRecord.id))
                        .limit(f.limit)
                        .offset(f.offset)
                    ).all()
                )
        tasks = self.sealed.open([t for t, _c in rows])
        cases = self.sealed.open([c for _t, c in rows])
        rows_out = [InboxRow(t, c) for t, c in zip(tasks, cases, strict=True)]
        return Page(rows_out, total, capped)

    def counts(self, assignees: Sequence[str], up_to: int | None = None) -> dict[str, int]:
        """Open tasks per assignee, for the inbox's tabs: each counted up to `up_to` + 1
        (`up_to` + 1 meaning "more than `up_to`"), or all of them."""
        with self.db.session() as session:
            found: dict[str, int] = {}
            for assignee in dict.fromkeys(assignees):
                open_tasks = select(TaskRecord.id).where(
                    TaskRecord.assignee == assignee, TaskRecord.status == TaskStatus.OPEN
                )
                if up_to is not None:
                    open_tasks = open_tasks.limit(up_to + 1)
                found[assignee] = int(
                    session.exec(select(func.count()).select_from(open_tasks.subquery())).one()
                )
            return found
