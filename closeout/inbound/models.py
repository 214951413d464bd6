"""What came back and was kept: a message matched to a case, and its attachments.

Only mail matched to a case is kept, and its words (sender, subject, text, attachments' names
and bytes) are sealed under the customer's data key, listed in `closeout/cases/erasure.py`
(`FREE_TEXT`): deleted with the customer, and looked for by the deletion's verification.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_message"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="closure_case.id", index=True, max_length=36)
    customer_id: str = Field(max_length=64, index=True)
    received_at: datetime
    # reply, auto_reply, bounce, delayed (closeout/inbound/reading.py `InboundKind`).
    kind: str = Field(max_length=20)
    # The sender's Message-ID: the same message delivered twice is kept once.
    message_id: str | None = Field(default=None, max_length=255, unique=True)
    # A delivery report's status (RFC 3463).
    status: str | None = Field(default=None, max_length=16)
    size_bytes: int
    # Sealed words (closeout/cases/sealing.py), of no fixed length.
    sender: str | None = Field(default=None, sa_column=Column(Text))
    subject: str | None = Field(default=None, sa_column=Column(Text))
    text: str | None = Field(default=None, sa_column=Column(Text))
    # How a reply reached its case (closeout/inbound/receiving.py `Handoff`): pending until the
    # case took it, then `task` (a customer_reply task, `task_id`) or `case_closed`.
    handoff: str = Field(default="not_needed", max_length=16, index=True)
    task_id: str | None = Field(default=None, max_length=36, index=True)
    handed_at: datetime | None = None


class InboundAttachment(SQLModel, table=True):
    """A file that came with a message: kept sealed, listed, never opened or shown inline."""

    __tablename__ = "inbound_attachment"

    id: str = Field(primary_key=True, max_length=36)
    inbound_id: str = Field(foreign_key="inbound_message.id", index=True, max_length=36)
    customer_id: str = Field(max_length=64, index=True)
    content_type: str = Field(max_length=100)
    size_bytes: int
    # Sealed: the file's name and its bytes (base64).
    filename: str | None = Field(default=None, sa_column=Column(Text))
    content: str | None = Field(default=None, sa_column=Column(Text))
