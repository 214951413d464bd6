"""Finding audit events: by case, actor, action and time, for the compliance pages and CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from closeout.audit.chain import Content
from closeout.audit.models import AuditEvent
from closeout.db import Database

CSV_COLUMNS = ("seq", "at", "case_id", "actor", "action", "reason", "details", "hash")
# A cell a spreadsheet would take for a formula is written as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


@dataclass(frozen=True)
class AuditFilter:
    case_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: SelectOfScalar[AuditEvent]) -> SelectOfScalar[AuditEvent]:
        if self.case_id:
            query = query.where(AuditEvent.case_id == self.case_id)
        if self.actor:
            query = query.where(func.lower(AuditEvent.actor).like(f"%{self.actor.lower()}%"))
        if self.action:
            query = query.where(AuditEvent.action == self.action)
        if self.since:
            query = query.where(col(AuditEvent.at) >= self.since)
        if self.until:
            query = query.where(col(AuditEvent.at) < self.until)
        return query


class AuditSearch:
    """Reads events with their free text opened: `read` opens what was sealed under a
    customer's key (closeout/cases/sealing.py), once per walk."""

    def __init__(self, db: Database, read: Callable[[], Content] | None = None) -> None:
        self.db = db
        self.read = read

    def _opened(self, rows: Sequence[AuditEvent], read: Content | None) -> Sequence[AuditEvent]:
        if read is not None:
            for e in rows:
                e.reason, e.details = read(e.reason, e.details)
        return rows

    def page(self, where: AuditFilter, limit: int, offset: int) -> tuple[Sequence[AuditEvent], int]:
        """Newest first."""
        query = where.apply(select(AuditEvent))
        with self.db.session() as session:
            total = session.exec(select(func.count()).select_from(query.subquery())).one()
            rows = session.exec(
                query.order_by(col(AuditEvent.seq).desc()).limit(limit).offset(offset)
            ).all()
        return self._opened(rows, self.read() if self.read else None), int(total)

    def actions(self) -> list[str]:
        with self.db.session() as session:
            return sorted(session.exec(select(AuditEvent.action).distinct()).all())

    def csv_lines(self, where: AuditFilter, batch: int = 2_000) -> Iterator[str]:
        """The matching events in chain order as CSV, a batch at a time (for streaming)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        last = 0
        read = self.read() if self.read else None
        while True:
            with self.db.session() as session:
                rows = session.exec(
                    where.apply(select(AuditEvent))
                    .where(col(AuditEvent.seq) > last)
                    .order_by(col(AuditEvent.seq))
                    .limit(batch)
                ).all()
            for e in self._opened(rows, read):
                writer.writerow(
                    (
                        e.seq,
                        e.at.isoformat(),
                        e.case_id or "",
                        _cell(e.actor),
                        e.action,
                        _cell(e.reason or ""),
                        _cell(json.dumps(e.details, sort_keys=True, ensure_ascii=False)),
                        e.hash,
                    )
                )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(rows) < batch:
                return
            last = rows[-1].seq
