"""A customer's reply by mail reaches its case on the time-skipping server: kept sealed by the
inbound service, handed over as an Update, read by the owner in a customer_reply task, and done
as the answer it is — at every stage until the case ends."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError

from closeout.access import Refusal
from closeout.cases.models import TaskRecord
from closeout.contracts import (
    CaseResult,
    DecisionRequest,
    ReplyHanded,
    ReplyReceived,
)
from closeout.domain import (
    MANAGER_GROUP,
    Outcome,
    Stage,
    TaskDecision,
    TaskKind,
    TaskStatus,
    Trigger,
)
from closeout.inbound.models import InboundMessage
from closeout.inbound.receiving import Handoff
from closeout.inbound.replies import Replies
from tests.workflows.conftest import (
    MANAGER_ACTOR,
    OWNER,
    OWNER_ACTOR,
    Harness,
    receive_reply,
    reply_inbound,
)
from workflows.case_handles import INBOUND_ACTOR, hand_over_replies
from workflows.close_customer import CloseCustomerWorkflow


def _row(h: Harness, inbound_id: str) -> InboundMessage:
    with h.db.session() as session:
        found = session.get(InboundMessage, inbound_id)
    assert found is not None
    return found


def _update_refusal(exc: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> tuple[str, str]:
    cause = exc.value.cause
    return getattr(cause, "type", ""), getattr(cause, "message", str(cause))


async def test_a_reply_read_as_stay_wins_the_customer_back(harness: Harness) -> None:
    h = harness
    handle = await h.start(h.add_customer())
    await h.task(handle, TaskKind.WIN_BACK)
    case_id = (await h.status(handle)).case_id
    inbound = reply_inbound(h)
    reply_id = receive_reply(inbound, case_id, "Please don't close my account, I was on leave.")
    assert _row(h, reply_id).handoff == Handoff.PENDING

    assert await hand_over_replies(h.client, inbound) == {reply_id: Handoff.TASK}
    task = await h.task(handle, TaskKind.CUSTOMER_REPLY)
    assert task.assignee == OWNER
    row = _row(h, reply_id)
    assert (row.handoff, row.task_id) == (Handoff.TASK, task.task_id)
    assert row.handed_at is not None
    # The task page reads the reply: its own words, the quoted notice and signature gone.
    shown = Replies(h.db, h.cases.sealed).of_task(task.task_id)
    assert shown is not None and shown.text == "Please don't close my account, I was on leave."
    # Handed again (a retry after a lost answer): the same task, no second one.
    assert await hand_over_replies(h.client, inbound) == {}
    again: ReplyHanded = await handle.execute_update(
        CloseCustomerWorkflow.reply,
        ReplyReceived(reply_id, row.received_at, INBOUND_ACTOR, case_id),
    )
    assert again == ReplyHanded(reply_id, task.task_id)
    pending = (await h.status(handle)).pending_tasks
    assert [t.kind for t in pending].count(TaskKind.CUSTOMER_REPLY) == 1

    # Nobody but the inbound service hands a reply over.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            CloseCustomerWorkflow.reply,
            ReplyReceived(str(uuid.uuid4()), row.received_at, OWNER_ACTOR, case_id),
        )
    assert _update_refusal(refused)[0] == Refusal.FORBIDDEN
    # A reply is read as one of its own kind's answers, not as an approval.
    with pytest.raises(WorkflowUpdateFailedError) as wrong:
        await handle.execute_update(
            CloseCustomerWorkflow.decide,
            DecisionRequest(task.task_id, TaskDecision.APPROVE, OWNER_ACTOR),
        )
    assert _update_refusal(wrong)[0] == Refusal.INVALID_DECISION

    await h.decide(handle, TaskKind.CUSTOMER_REPLY, TaskDecision.STAY)
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.RETAINED
    stay = next(e for e in h.cases.case_audit(case_id) if e.action == "customer_stay")
    assert stay.actor == OWNER and stay.details["via"] == "reply"
    assert stay.details["inbound_id"] == reply_id
    assert "customer_replied" in h.actions(case_id)


async def test_an_unread_reply_holds_the_closure_and_an_objection_is_reviewed(
    harness: Harness,
) -> None:
    h = harness
    handle = await h.start(h.add_customer())
    await h.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    await h.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE)
    status = await h.stage(handle, Stage.AWAITING_EFFECTIVE_DATE)
    inbound = reply_inbound(h)
    receive_reply(inbound, status.case_id, "I object: the invoices were paid in October.")
    await hand_over_replies(h.client, inbound)
    await h.task(handle, TaskKind.CUSTOMER_REPLY)
    # Past the effective date, the closure waits for the reply to be read.
    await h.env.sleep(timedelta(days=40))
    assert (await h.status(handle)).stage is Stage.AWAITING_EFFECTIVE_DATE
    # Past its due date the reply went to the managers, as every task does.
    assert (await h.task(handle, TaskKind.CUSTOMER_REPLY)).assignee == MANAGER_GROUP
    await h.decide(handle, TaskKind.CUSTOMER_REPLY, TaskDecision.OBJECT, actor=MANAGER_ACTOR)
    review = await h.task(handle, TaskKind.OBJECTION_REVIEW)
    with h.db.session() as session:
        row = h.cases.sealed.open_one(session.get(TaskRecord, review.task_id))
    assert row is not None and row.note == "customer object: (as the customer's reply says)"
    # The review keeps the customer: the reply changed the closure, as the link would have.
    await h.decide(
        handle, TaskKind.OBJECTION_REVIEW, TaskDecision.REJECT, comment="invoices were paid"
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.REJECTED


async def test_a_reply_in_retention_is_read_and_a_deletion_request_kept(
    harness: Harness,
) -> None:
    h = harness
    handle = await h.start(h.add_customer())
    await h.approve_closure(handle)
    status = await h.stage(handle, Stage.RETENTION)
    inbound = reply_inbound(h)
    reply_id = receive_reply(inbound, status.case_id, "Delete everything you hold about me now.")
    assert await hand_over_replies(h.client, inbound) == {reply_id: Handoff.TASK}
    task = await h.task(handle, TaskKind.CUSTOMER_REPLY)
    # A manager may read it for the owner.
    await h.decide(
        handle, TaskKind.CUSTOMER_REPLY, TaskDecision.REQUEST_DELETION, actor=MANAGER_ACTOR
    )
    with h.db.session() as session:
        row = session.get(TaskRecord, task.task_id)
    assert row is not None and row.status == TaskStatus.DONE
    assert row.decision == TaskDecision.REQUEST_DELETION
    added = next(e for e in h.cases.case_audit(status.case_id) if e.action == "evidence_added")
    assert added.details["trigger"] == Trigger.CUSTOMER_REQUEST
    # Read as "stay" after access was revoked: kept on the case, changes nothing.
    second = receive_reply(inbound, status.case_id, "Actually I want to stay.")
    await hand_over_replies(h.client, inbound)
    await h.decide(handle, TaskKind.CUSTOMER_REPLY, TaskDecision.STAY)
    assert "reply_changes_nothing" in h.actions(status.case_id)
    assert (await h.status(handle)).stage is Stage.RETENTION
    assert _row(h, second).handoff == Handoff.TASK


async def test_a_reply_after_the_case_ended_is_kept_without_a_task(harness: Harness) -> None:
    h = harness
    handle = await h.start(h.add_customer())
    await h.decide(handle, TaskKind.WIN_BACK, TaskDecision.RETAINED)
    result: CaseResult = await handle.result()
    inbound = reply_inbound(h)
    reply_id = receive_reply(inbound, result.case_id, "Thank you for keeping my account!")
    assert await hand_over_replies(h.client, inbound) == {reply_id: Handoff.CASE_CLOSED}
    row = _row(h, reply_id)
    assert (row.handoff, row.task_id) == (Handoff.CASE_CLOSED, None)
    with h.db.session() as session:
        kinds = session.exec(
            select(TaskRecord.kind).where(TaskRecord.case_id == result.case_id)
        ).all()
    assert TaskKind.CUSTOMER_REPLY not in kinds
    [shown] = Replies(h.db, h.cases.sealed).of_case(result.case_id)
    assert shown.text == "Thank you for keeping my account!"
