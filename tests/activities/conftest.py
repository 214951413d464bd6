from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.case_activities import CloseoutActivities
from activities.notice_sending import NoticeActivities
from activities.staff_notices import StaffActivities
from closeout.contracts import AuditEntry, CaseOpened, CloseCustomerInput, CustomerStep
from closeout.crm.adapters import crm_from
from closeout.db import Database
from closeout.demo import add_customer
from closeout.domain import ChurnClass, Trigger, ValueTier
from closeout.settings import Settings
from closeout.suppression.ledger import ledger_from
from tests.conftest import make_settings
from tests.support import MailSink
from worker import build_activities


def audit(action: str) -> AuditEntry:
    return AuditEntry(str(uuid.uuid4()), "system", action, datetime.now(UTC))


class World:
    """Activities wired to a real database (SQLite or PostgreSQL), SMTP sink and archive dir."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        built = build_activities(settings, db)
        self.activities: CloseoutActivities = built.cases
        self.notices: NoticeActivities = built.notices
        self.staff: StaffActivities = built.staff
        # The reference CRM the activities' customer source is (no connector declared).
        self.crm = crm_from(settings, db, ledger_from(settings))

    def customer(self, tier: ValueTier = ValueTier.STANDARD, locale: str = "en") -> str:
        customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        with self.db.session() as session:
            add_customer(
                session,
                customer_id,
                name=f"Shop {customer_id}",
                owner="li.na@example.com",
                value_tier=tier,
                locale=locale,
            )
        return customer_id

    def case(self, customer_id: str) -> str:
        case_id = str(uuid.uuid4())
        self.activities.record_case_opened(
            CaseOpened(
                CloseCustomerInput(
                    case_id,
                    customer_id,
                    Trigger.INACTIVITY,
                    ChurnClass.NATURAL,
                    "standard",
                    "li.na",
                ),
                f"close-customer-{customer_id}",
                "run-1",
                audit("case_opened"),
            )
        )
        return case_id

    def step(
        self, case_id: str, customer_id: str, action: str, bundle_id: str | None = None
    ) -> CustomerStep:
        return CustomerStep(case_id, customer_id, audit(action), bundle_id)


@pytest.fixture
def world(tmp_path: Path, database_url: str, mail: MailSink) -> Iterator[World]:
    settings = make_settings(tmp_path, database_url, mail)
    db = Database.from_url(database_url)
    yield World(settings, db)
    db.engine.dispose()
