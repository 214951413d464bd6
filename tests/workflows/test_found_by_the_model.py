"""Examples the model-based test of the case (tests/model) found and shrank, kept as tests."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from closeout.contracts import ReactivateRequest, RetentionPeriodsChange
from closeout.crm.reference import ReferenceCrm
from closeout.domain import DataCategory, NoticeKind, Outcome, Stage, TaskKind
from tests.conftest import YEAR
from tests.support import eventually
from tests.workflows.conftest import COMPLIANCE, OWNER_ACTOR, Harness
from workflows.close_customer import CloseCustomerWorkflow


async def test_a_policy_naming_only_some_categories_loses_nothing(harness: Harness) -> None:
    """Periods for one category, sent to a case before its archive: the case archived under
    them split its backup into that category's bundle only and dropped the rest, so the
    minimised records were gone before any deletion and a reactivation could not restore
    them. A changed policy names every category (or none): one that does not is refused."""
    customer = harness.add_customer()
    handle = await harness.start(customer)
    await harness.task(handle, TaskKind.WIN_BACK)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            CloseCustomerWorkflow.apply_retention_periods,
            RetentionPeriodsChange(
                "standard", {DataCategory.CONTRACTS: 3 * YEAR}, "counsel's advice", COMPLIANCE
            ),
        )
    assert getattr(refused.value.cause, "type", "") == "InvalidRequest"
    await harness.approve_closure(handle)
    await harness.stage(handle, Stage.RETENTION)
    result = await handle.execute_update(
        CloseCustomerWorkflow.reactivate, ReactivateRequest("came back", OWNER_ACTOR)
    )
    assert result.outcome is Outcome.REACTIVATED
    held = ReferenceCrm(harness.db).remaining_records(customer)
    assert all(held.get(table, 0) > 0 for table in ("interactions", "portal_users")), held


async def test_a_notice_after_the_last_written_ahead_one_is_sent_once(harness: Harness) -> None:
    """Retention by category: the contact data's deletion confirmation was the last message
    written ahead, so once sent the outbox key went with it. A reactivation afterwards sends
    an ordinary notice, whose address the outbox then failed to seal under the destroyed
    key: the step failed after the mail had left, and every retry sent it again (five
    copies under one Message-ID). The outbox key is renewed for what comes after; the
    notice goes once."""
    customer = harness.add_customer()
    handle = await harness.start(customer, policy="by-category")
    await harness.approve_closure(handle)
    await harness.stage(handle, Stage.RETENTION)
    await harness.env.sleep(timedelta(days=91))

    async def contact_data_deleted() -> bool:
        status = await harness.status(handle)
        return any(
            c.category is DataCategory.CONTACT_DATA and c.deleted_at is not None
            for c in status.category_clocks
        )

    await eventually(contact_data_deleted, what="the contact data deleted")
    result = await handle.execute_update(
        CloseCustomerWorkflow.reactivate, ReactivateRequest("came back", OWNER_ACTOR)
    )
    assert result.outcome is Outcome.REACTIVATED
    # Before the fix the notice's step failed and was retried for ever: a guard, not a target.
    case_result = await asyncio.wait_for(handle.result(), timeout=120)
    assert case_result.outcome is Outcome.REACTIVATED
    sent = Counter(str(m["Message-ID"]) for m in harness.mail.messages)
    assert sent and max(sent.values()) == 1, sent
    notices = {n.kind: n for n in harness.cases.case_notices(case_result.case_id)}
    assert notices[NoticeKind.REACTIVATED].status == "sent"
    assert notices[NoticeKind.REACTIVATED].recipient  # the customer is back: it is kept
