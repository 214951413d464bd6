"""Receiving a message that came back: matched to its case, kept sealed, or refused.

Every message gets one defined outcome, said back to the sending server as an SMTP reply:

- `accepted`: matched to a case by its reply address or, failing that, by the notice it answers
  (In-Reply-To / References, or the message a delivery report is about); kept, its words and
  attachments sealed under the customer's data key. A delivery report that says a notice failed
  for good (5.x.x) counts a bounce on the contact it failed for, as a refusal while sending does.
- `duplicate`: the same message (by its Message-ID) kept already: accepted, kept once.
- `forged`: sent to an address of the reply form whose token Closeout did not make: refused,
  nothing kept.
- `unmatched`: no reply address and no notice it answers: refused, nothing kept (Closeout holds
  no words of people it cannot tie to a case).
- `customer_gone`: the case's customer was deleted: refused, nothing kept.
- `oversized`: over `CLOSEOUT_INBOUND_MAX_BYTES`: refused before it is read.
- `unreadable`: the mail parser cannot read it (a header it trips over, parts nested past
  reason): refused for good, nothing kept; a mailbox leaves it there, read, for a person.
- `failed`: it was read but could not be kept this time (the database did not answer, say):
  refused for now with a temporary SMTP reply, so the sending server tries again later; a
  mailbox leaves it unread for its next pass. Nothing of it is kept. Once a message is kept it
  is never `failed`: what may still go wrong after (counting a bounce at the source) is logged.

Neither failure logs anything of the message: the kind of exception and where in Closeout it
was raised (file, line, function), since an exception's text can carry the message's values.

A kept reply is then handed to its case (`Handoff`), which gives its owner a task to read it;
auto-replies and delivery reports are kept without one.
"""

from __future__ import annotations

import base64
import logging
import os
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from closeout.cases.models import CaseRecord, NoticeRecord
from closeout.cases.sealing import SealedWords
from closeout.connectors.adapters import connected
from closeout.connectors.errors import ConnectorError
from closeout.crm.adapters import crm_from
from closeout.crm.port import CustomerSource
from closeout.crypto.data_keys import KeyDestroyed
from closeout.crypto.vault import data_keys_from
from closeout.db import Database, table_of
from closeout.domain import Outcome
from closeout.inbound.address import ForgedReplyAddress, ReplyAddresses
from closeout.inbound.models import InboundAttachment, InboundMessage
from closeout.inbound.reading import (
    Attachment,
    InboundKind,
    InboundMail,
    header_recipients,
    read_mail,
)
from closeout.settings import Settings
from closeout.suppression.ledger import ledger_from

_MESSAGES = table_of(InboundMessage)
_ATTACHMENTS = table_of(InboundAttachment)
_CASES = table_of(CaseRecord)
_NOTICES = table_of(NoticeRecord)

log = logging.getLogger(__name__)


class InboundOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    FORGED = "forged"
    UNMATCHED = "unmatched"
    CUSTOMER_GONE = "customer_gone"
    OVERSIZED = "oversized"
    UNREADABLE = "unreadable"
    FAILED = "failed"

    @property
    def smtp_reply(self) -> str:
        return _SMTP_REPLIES[self]


_SMTP_REPLIES = {
    InboundOutcome.ACCEPTED: "250 2.0.0 Message accepted",
    InboundOutcome.DUPLICATE: "250 2.0.0 Message accepted (already received)",
    InboundOutcome.FORGED: "550 5.1.1 No such recipient",
    InboundOutcome.UNMATCHED: "550 5.1.1 No such recipient",
    InboundOutcome.CUSTOMER_GONE: "550 5.1.1 Recipient no longer exists",
    InboundOutcome.OVERSIZED: "552 5.3.4 Message too big",
    InboundOutcome.UNREADABLE: "554 5.6.0 Message could not be read",
    InboundOutcome.FAILED: "451 4.3.0 Message not kept this time: try again later",
}


class Handoff(StrEnum):
    """How a kept message reached its case."""

    PENDING = "pending"  # a reply the case has not taken yet
    TASK = "task"  # the case took it: its owner has a customer_reply task
    CASE_CLOSED = "case_closed"  # the case had ended: kept on it, no task
    NOT_NEEDED = "not_needed"  # an auto-reply or a delivery report: kept, no task


@dataclass(frozen=True)
class WaitingReply:
    """A reply to hand to its case's workflow."""

    inbound_id: str
    case_id: str
    received_at: datetime
    workflow_id: str
    first_run_id: str


@dataclass(frozen=True)
class Received:
    outcome: InboundOutcome
    kind: InboundKind | None = None
    case_id: str | None = None
    inbound_id: str | None = None


def _attachment(attachment: Attachment, inbound_id: str, customer_id: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "inbound_id": inbound_id,
        "customer_id": customer_id,
        "content_type": attachment.content_type[:100],
        "size_bytes": attachment.size,
        "filename": attachment.filename,
        "content": base64.b64encode(attachment.content).decode(),
    }


class Inbound:
    """Matches, seals and keeps what comes back; the one writer of the inbound tables."""

    def __init__(
        self,
        db: Database,
        sealed: SealedWords,
        replies: ReplyAddresses,
        max_bytes: int,
        source: CustomerSource | None = None,
    ) -> None:
        self.db = db
        self.sealed = sealed
        self.replies = replies
        self.max_bytes = max_bytes
        self.source = source

    def receive(self, raw: bytes, recipients: list[str] | None, now: datetime) -> Received:
        """One message, as the SMTP envelope delivered it to `recipients` (None: as its own
        headers address it, for a message that comes without its envelope). Always an outcome:
        `unreadable` when the parser fails on it, `failed` (to be tried again) when keeping it
        did."""
        if len(raw) > self.max_bytes:
            return Received(InboundOutcome.OVERSIZED)
        try:
            mail = read_mail(raw)
            if recipients is None:
                recipients = header_recipients(raw)
        except Exception as exc:  # whatever the parser tripped over: it will again
            _log_failure("a message could not be read, refused", exc)
            return Received(InboundOutcome.UNREADABLE)
        try:
            return self._receive(mail, len(raw), recipients, now)
        except Exception as exc:  # whatever failed, nothing was kept: the same refusal for now
            _log_failure("a message was not kept, to be tried again", exc)
            return Received(InboundOutcome.FAILED, mail.kind)

    def _receive(
        self, mail: InboundMail, size: int, recipients: list[str], now: datetime
    ) -> Received:
        try:
            case_id = self.replies.case_in(recipients) or self._answered_case(mail)
        except ForgedReplyAddress:
            return Received(InboundOutcome.FORGED, mail.kind)
        if case_id is None:
            return Received(InboundOutcome.UNMATCHED, mail.kind)
        with self.db.engine.connect() as conn:
            case = conn.execute(
                select(_CASES.c.customer_id, _CASES.c.outcome).where(_CASES.c.id == case_id)
            ).first()
        if case is None or case.outcome == Outcome.DELETED:
            return Received(InboundOutcome.CUSTOMER_GONE, mail.kind, case_id)
        try:
            received = self._keep(mail, size, case_id, case.customer_id, now)
        except KeyDestroyed:
            return Received(InboundOutcome.CUSTOMER_GONE, mail.kind, case_id)
        bounced = mail.kind is InboundKind.BOUNCE and mail.failed_recipient is not None
        if received.outcome is InboundOutcome.ACCEPTED and bounced and self.source is not None:
            try:
                self.source.record_bounce(case.customer_id, str(mail.failed_recipient))
            # Kept and matched all the same: the case learns of the bounce from the message;
            # only the source's own counter misses this one. Never a refusal from here on.
            except ConnectorError as exc:  # its words name the source's refusal, no values
                log.warning("the bounce was not counted at the customer source: %s", exc)
            except Exception as exc:
                _log_failure("the bounce was not counted at the customer source", exc)
        return received

    def _answered_case(self, mail: InboundMail) -> str | None:
        """The case of the notice the message answers (or reports on), if any."""
        if not mail.answers:
            return None
        with self.db.engine.connect() as conn:
            return conn.execute(
                select(_NOTICES.c.case_id).where(_NOTICES.c.message_id.in_(mail.answers)).limit(1)
            ).scalar()

    def _keep(
        self, mail: InboundMail, size: int, case_id: str, customer_id: str, now: datetime
    ) -> Received:
        inbound_id = str(uuid.uuid4())
        row = self.sealed.seal(
            _MESSAGES.name,
            customer_id,
            {
                "id": inbound_id, "case_id": case_id, "customer_id": customer_id,
                "received_at": now, "kind": str(mail.kind), "message_id": mail.message_id,
                "status": mail.status, "size_bytes": size, "sender": mail.sender,
                "subject": mail.subject, "text": mail.text,
                "handoff": Handoff.PENDING if mail.kind is InboundKind.REPLY
                else Handoff.NOT_NEEDED,
            },
        )  # fmt: skip
        files = [
            self.sealed.seal(
                _ATTACHMENTS.name, customer_id, _attachment(a, inbound_id, customer_id)
            )
            for a in mail.attachments
        ]
        with self.db.transaction() as conn:
            if mail.message_id is not None:
                kept = conn.execute(
                    select(_MESSAGES.c.id).where(_MESSAGES.c.message_id == mail.message_id)
                ).scalar()
                if kept is not None:
                    return Received(InboundOutcome.DUPLICATE, mail.kind, case_id, kept)
            conn.execute(insert(_MESSAGES), row)
            if files:
                conn.execute(insert(_ATTACHMENTS), files)
        return Received(InboundOutcome.ACCEPTED, mail.kind, case_id, inbound_id)

    def waiting(self, limit: int = 100) -> list[WaitingReply]:
        """Replies kept but not yet taken by their case, oldest first."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(
                    _MESSAGES.c.id,
                    _MESSAGES.c.case_id,
                    _MESSAGES.c.received_at,
                    _CASES.c.workflow_id,
                    _CASES.c.run_id,
                )
                .join(_CASES, _CASES.c.id == _MESSAGES.c.case_id)
                .where(_MESSAGES.c.handoff == Handoff.PENDING)
                .order_by(_MESSAGES.c.received_at)
                .limit(limit)
            ).all()
        return [WaitingReply(*row) for row in rows]

    def handed(self, inbound_id: str, handoff: Handoff, now: datetime) -> None:
        """The case took the reply (or had ended): it is not handed again."""
        with self.db.transaction() as conn:
            conn.execute(
                update(_MESSAGES)
                .where(_MESSAGES.c.id == inbound_id)
                .values(handoff=handoff, handed_at=now)
            )


def _log_failure(what: str, exc: BaseException) -> None:
    """What failed, by the exception's kind and Closeout's frames it went through (file, line,
    function): never the exception's text, which can carry the message's values."""
    frames = [
        f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)
        if f"{os.sep}closeout{os.sep}" in frame.filename
    ]
    log.error("%s: %s (at %s)", what, type(exc).__name__, " < ".join(reversed(frames)) or "?")


def inbound_from(settings: Settings, db: Database) -> Inbound:
    """The inbound mail of the settings' domain: the one place it is built."""
    if not settings.inbound_domain:
        raise ValueError("replies are off: set CLOSEOUT_INBOUND_DOMAIN to the domain they go to")
    return Inbound(
        db,
        SealedWords(data_keys_from(settings, db)),
        ReplyAddresses(settings.secret_key, settings.inbound_domain),
        settings.inbound_max_bytes,
        _source(settings, db),
    )


def _source(settings: Settings, db: Database) -> CustomerSource:
    """Where a bounce is counted against the address: the customer source."""
    ledger = ledger_from(settings)
    return connected(settings, crm_from(settings, db, ledger), ledger).source
