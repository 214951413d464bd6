"""A legal hold's review date brings it to every compliance officer, once, in their language."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from closeout.audit.models import AuditEvent
from closeout.contracts import HoldPlaced, PurgeRequest
from closeout.domain import Role
from closeout.users.accounts import Accounts
from tests.activities.conftest import World, audit
from tests.support import MailSink


def hold(world: World, case_id: str, review_at: datetime | None) -> str:
    hold_id = str(uuid.uuid4())
    world.activities.cases.record_hold_placed(
        HoldPlaced(
            hold_id, case_id, "tax audit", "AUD-9", "kim", audit("legal_hold_placed"), review_at
        )
    )
    return hold_id


async def test_review_reminders_go_once_to_each_compliance_officer(
    world: World, mail: MailSink
) -> None:
    accounts = Accounts(world.db, dev_mode=True)
    accounts.add("kim@example.com", Role.COMPLIANCE_OFFICER, "long-enough-pw")
    accounts.add("wang@example.com", Role.COMPLIANCE_OFFICER, "long-enough-pw", locale="zh-CN")
    accounts.add("sam@example.com", Role.ACCOUNT_MANAGER, "long-enough-pw")
    customer = world.customer()
    case_id = world.case(customer)
    now = datetime.now(UTC)
    due = hold(world, case_id, now - timedelta(hours=1))
    hold(world, case_id, now + timedelta(days=30))  # not yet
    hold(world, case_id, None)  # no review date
    staff = world.staff
    run = ActivityEnvironment().run
    assert await run(staff.remind_hold_reviews, PurgeRequest(now)) == 1
    assert await run(staff.remind_hold_reviews, PurgeRequest(now)) == 0  # once per hold
    to = sorted(str(m["To"]) for m in mail.messages)
    assert to == ["kim@example.com", "wang@example.com"]
    subjects = {str(m["To"]): m for m in mail.messages}
    assert f"legal hold on customer {customer}" in str(subjects["kim@example.com"]["Subject"])
    text = mail.parts(subjects["kim@example.com"])["text/plain"]
    assert "tax audit" in text and "/compliance/holds" in text
    assert str(subjects["wang@example.com"]["Subject"]).startswith("待复核")  # in Chinese
    with world.db.session() as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "legal_hold_review_due")
        ).all()
    assert [e.details["hold_id"] for e in events] == [due]
