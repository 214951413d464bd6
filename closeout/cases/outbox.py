"""The outbox: each notice's row, written before its mail is sent, so a retry sends it once.

Where a notice went and a message written ahead of the deletion are the customer's words,
sealed under their outbox key (closeout/cases/sealing.py): it outlives the deletion until the
last message written ahead of it is sent, then it is destroyed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import func

from closeout.audit import chain
from closeout.cases.models import CaseRecord, NoticeRecord
from closeout.cases.sealing import SealedAudit
from closeout.contracts import AuditEntry
from closeout.crypto.data_keys import KeyDestroyed
from closeout.db import table_of

_CASES = table_of(CaseRecord)
_NOTICES = table_of(NoticeRecord)
_NOTICE = sa_select(_NOTICES).where(_NOTICES.c.id == bindparam("key"))
_NOTICE_STATE = sa_select(
    _NOTICES.c.case_id,
    _NOTICES.c.status,
    _NOTICES.c.sealed.is_not(None).label("sealed"),
    _CASES.c.customer_id,
).where(_NOTICES.c.id == bindparam("key"), _CASES.c.id == _NOTICES.c.case_id)
_UPDATE_NOTICE = sa_update(_NOTICES).where(_NOTICES.c.id == bindparam("key"))


def _now() -> datetime:
    return datetime.now(UTC)


def _of_customer(customer_id: str) -> Any:
    cases = sa_select(_CASES.c.id).where(_CASES.c.customer_id == customer_id)
    return _NOTICES.c.case_id.in_(cases.scalar_subquery())


_HOLDING = or_(_NOTICES.c.recipient.is_not(None), _NOTICES.c.sealed.is_not(None))


class Outbox(SealedAudit):
    def notice(self, notice_id: str) -> NoticeRecord | None:
        with self.db.session() as session:
            found = session.get(NoticeRecord, notice_id)
        return self.sealed.open_one(found)

    def prepare_notice(
        self, notice_id: str, case_id: str, kind: str, message_id: str
    ) -> NoticeRecord:
        with self.db.transaction() as connection:
            found = connection.execute(_NOTICE, {"key": notice_id}).first()
            if found is not None:
                record = NoticeRecord.model_validate(found._mapping)
                return self.sealed.open([record])[0]
            notice = NoticeRecord(
                id=notice_id,
                case_id=case_id,
                kind=kind,
                message_id=message_id,
                status="pending",
                created_at=_now(),
            )
            connection.execute(
                insert(_NOTICES), {c.name: getattr(notice, c.name) for c in _NOTICES.columns}
            )
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
        with self.db.transaction() as connection:
            connection.execute(
                sa_update(_NOTICES)
                .where(_NOTICES.c.id == notice_id, _NOTICES.c.status == "sending")
                .values(status="pending")
            )

    def seal_notice(self, notice_id: str, recipient: str, message: dict[str, str]) -> None:
        with self.db.transaction() as connection:
            found = connection.execute(_NOTICE_STATE, {"key": notice_id}).first()
        if found is None:
            raise LookupError(f"no notice {notice_id}")
        if found.status != "pending":
            return
        values = self.sealed.seal(
            _NOTICES.name, found.customer_id, {"recipient": recipient, "sealed": message}
        )
        with self.db.transaction() as connection:
            connection.execute(
                sa_update(_NOTICES)
                .where(_NOTICES.c.id == notice_id, _NOTICES.c.status == "pending")
                .values(status="sealed", **values)
            )

    def scrub_recipients(self, customer_id: str, sealed_too: bool = False) -> int:
        """Forget where the customer's notices went (sealed ones wait to be sent first,
        unless `sealed_too`: a deleted customer found again gets no message). With nothing
        left waiting, the outbox key goes too."""
        where = [_of_customer(customer_id), _HOLDING]
        if not sealed_too:
            where.append(_NOTICES.c.sealed.is_(None))
        with self.db.transaction() as connection:
            scrubbed = connection.execute(
                sa_update(_NOTICES).where(*where).values(recipient=None, sealed=None)
            ).rowcount
            waiting = self._waiting(connection, customer_id)
        if not waiting:
            self.sealed.destroy_outbox_key(customer_id)
        return int(scrubbed or 0)

    def _waiting(self, connection: Connection, customer_id: str) -> int:
        """Messages of the customer written ahead and not yet sent."""
        return int(
            connection.execute(
                sa_select(func.count())
                .select_from(_NOTICES)
                .where(_of_customer(customer_id), _NOTICES.c.sealed.is_not(None))
            ).scalar_one()
        )

    def outbox_addresses(self, customer_id: str) -> int:
        """Notices of the customer's cases that still hold an address or a sealed message."""
        with self.db.transaction() as connection:
            return int(
                connection.execute(
                    sa_select(func.count())
                    .select_from(_NOTICES)
                    .where(_of_customer(customer_id), _HOLDING)
                ).scalar_one()
            )

    def mark_notice(
        self, notice_id: str, status: str, recipient: str | None, audit: AuditEntry
    ) -> None:
        with self.db.transaction() as connection:
            found = connection.execute(_NOTICE_STATE, {"key": notice_id}).first()
        if found is None:
            raise LookupError(f"no notice {notice_id}")
        # A sealed message is sent once and then forgotten, its address with it.
        address = None
        if not found.sealed and recipient:
            try:
                address = self.sealed.seal(
                    _NOTICES.name, found.customer_id, {"recipient": recipient}
                )
            except KeyDestroyed:
                # The mail has left: failing here would only send it again. (The outbox key
                # is renewed when it was destroyed, so this is a last guard.)
                address = None
        stored = self._stored_audit(found.case_id, audit, found.customer_id)
        with self.db.transaction() as connection:
            connection.execute(
                _UPDATE_NOTICE,
                {
                    "key": notice_id,
                    "status": status,
                    "sent_at": _now() if status == "sent" else None,
                    "recipient": address["recipient"] if address else None,
                    "sealed": None,
                },
            )
            chain.append_on(connection, found.case_id, audit, stored)
            waiting = self._waiting(connection, found.customer_id) if found.sealed else 1
        if not waiting:
            self.sealed.destroy_outbox_key(found.customer_id)
