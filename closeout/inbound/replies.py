"""What came back on a case, as the task and case pages show it: each message opened (its
words sealed under the customer's key), and its attachments listed by name, type and size —
never opened, never shown inline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, select

from closeout.cases.sealing import SealedWords
from closeout.db import Database, table_of
from closeout.inbound.models import InboundAttachment, InboundMessage

_MESSAGES = table_of(InboundMessage)
_ATTACHMENTS = table_of(InboundAttachment)


@dataclass(frozen=True)
class AttachmentView:
    filename: str | None
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class ReplyView:
    id: str
    case_id: str
    kind: str
    received_at: datetime
    sender: str | None
    subject: str | None
    text: str | None
    status: str | None
    handoff: str
    task_id: str | None
    attachments: list[AttachmentView] = field(default_factory=list)


class Replies:
    """Reads the inbound tables for the pages and the API (Inbound writes them)."""

    def __init__(self, db: Database, sealed: SealedWords) -> None:
        self.db = db
        self.sealed = sealed

    def of_case(self, case_id: str) -> list[ReplyView]:
        """Everything that came back on the case, oldest first."""
        return self._read(_MESSAGES.c.case_id == case_id)

    def of_task(self, task_id: str) -> ReplyView | None:
        """The reply a customer_reply task is about."""
        found = self._read(_MESSAGES.c.task_id == task_id)
        return found[0] if found else None

    def _read(self, where: ColumnElement[bool]) -> list[ReplyView]:
        message_columns = [c for c in _MESSAGES.c if c.name != "id"]
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(_MESSAGES.c.id, *message_columns)
                .where(where)
                .order_by(_MESSAGES.c.received_at)
            ).all()
            ids = [row.id for row in rows]
            files = (
                conn.execute(
                    select(
                        _ATTACHMENTS.c.id,
                        _ATTACHMENTS.c.inbound_id,
                        _ATTACHMENTS.c.customer_id,
                        _ATTACHMENTS.c.content_type,
                        _ATTACHMENTS.c.size_bytes,
                        _ATTACHMENTS.c.filename,
                    )
                    .where(_ATTACHMENTS.c.inbound_id.in_(ids))
                    .order_by(_ATTACHMENTS.c.id)
                ).all()
                if ids
                else []
            )
        messages = self.sealed.open([InboundMessage(**row._mapping) for row in rows])
        # The files' bytes are not read: a listing opens their names only.
        attachments = self.sealed.open([InboundAttachment(**row._mapping) for row in files])
        listed: dict[str, list[AttachmentView]] = {}
        for a in attachments:
            listed.setdefault(a.inbound_id, []).append(
                AttachmentView(a.filename, a.content_type, a.size_bytes)
            )
        return [
            ReplyView(
                id=m.id,
                case_id=m.case_id,
                kind=m.kind,
                received_at=m.received_at,
                sender=m.sender,
                subject=m.subject,
                text=m.text,
                status=m.status,
                handoff=m.handoff,
                task_id=m.task_id,
                attachments=listed.get(m.id, []),
            )
            for m in messages
        ]
