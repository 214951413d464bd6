"""The inbound endpoint over real SMTP, on SQLite and PostgreSQL, with a case to reply to."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import text
from sqlmodel import col, select

from closeout.cases.models import NoticeRecord
from closeout.db import Database, table_of
from closeout.inbound.models import InboundMessage
from closeout.inbound.receiving import Inbound, inbound_from
from closeout.inbound.smtp import start_inbound
from tests.cases.test_insights import _case
from tests.conftest import make_settings
from tests.support import MailSink, free_port, read_model

DOMAIN = "replies.example.com"


class Endpoint:
    def __init__(self, tmp_path: Path, database_url: str, mail: MailSink) -> None:
        self.settings = make_settings(
            tmp_path, database_url, mail, inbound_domain=DOMAIN, inbound_max_bytes=20_000
        )
        self.db = Database.from_url(database_url)
        self.repo = read_model(self.db, self.settings)
        self.inbound: Inbound = inbound_from(self.settings, self.db)
        self.port = free_port()
        self.controller = start_inbound(self.inbound, "127.0.0.1", self.port)

    def case(self) -> tuple[str, str]:
        case_id = _case(self.repo, datetime(2026, 11, 2, tzinfo=UTC))
        found = self.repo.get_case(case_id)
        assert found is not None
        return case_id, found.customer_id

    async def send(self, msg: EmailMessage, to: str) -> None:
        await aiosmtplib.send(
            msg, hostname="127.0.0.1", port=self.port, sender="ana@example.org", recipients=[to]
        )

    def notice_sent(self, case_id: str, message_id: str) -> None:
        """A notice of the case, sent under `message_id`: what a reply may answer."""
        with self.db.transaction() as conn:
            conn.execute(
                table_of(NoticeRecord).insert(),
                {"id": str(uuid.uuid4()), "case_id": case_id, "kind": "advance_notice",
                 "message_id": message_id, "status": "sent", "created_at": datetime.now(UTC)},
            )  # fmt: skip

    def messages_away(self) -> contextlib.AbstractContextManager[None]:
        return messages_away(self.db)

    def kept(self, case_id: str) -> list[InboundMessage]:
        with self.db.session() as session:
            return list(
                session.exec(select(InboundMessage).where(col(InboundMessage.case_id) == case_id))
            )


@contextlib.contextmanager
def messages_away(db: Database) -> Iterator[None]:
    """The kept messages' table out of reach for a while, as in a database's outage."""
    with db.transaction() as conn:
        conn.execute(text("ALTER TABLE inbound_message RENAME TO inbound_message_away"))
    try:
        yield
    finally:
        with db.transaction() as conn:
            conn.execute(text("ALTER TABLE inbound_message_away RENAME TO inbound_message"))


@pytest.fixture
def endpoint(tmp_path: Path, database_url: str, mail: MailSink) -> Iterator[Endpoint]:
    found = Endpoint(tmp_path, database_url, mail)
    yield found
    found.controller.stop()
    found.db.engine.dispose()
