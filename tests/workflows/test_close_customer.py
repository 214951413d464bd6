"""Every path of CloseCustomerWorkflow on the time-skipping server, with real activities."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError

from closeout.archive import archive_store_from
from closeout.cases.models import NoticeRecord, TaskRecord
from closeout.contracts import (
    Actor,
    AssignRequest,
    CancelRequest,
    CaseResult,
    CustomerAnswer,
    HoldReleaseRequest,
    HoldRequest,
    ReactivateRequest,
    RetentionChange,
    TaskView,
)
from closeout.crm.models import CrmContact, CrmInteraction, CrmPortalUser
from closeout.crm.reference import ReferenceCrm
from closeout.domain import (
    ACCOUNT_MANAGER_GROUP,
    MANAGER_GROUP,
    Assignment,
    CustomerResponse,
    NoticeKind,
    Outcome,
    Role,
    Stage,
    TaskDecision,
    TaskKind,
    TaskStatus,
    Trigger,
    ValueTier,
)
from closeout.users.accounts import DEMO_PASSWORD, Accounts
from tests.support import Refusing, assert_deleted_in_order, eventually, free_port
from tests.workflows.conftest import (
    COMPLIANCE,
    MANAGER_ACTOR,
    OTHER_AM,
    OWNER,
    OWNER_ACTOR,
    SECOND_MANAGER,
    Harness,
)
from workflows.close_customer import CloseCustomerWorkflow


def update_error(exc: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> tuple[str, str]:
    cause = exc.value.cause
    return getattr(cause, "type", ""), getattr(cause, "message", str(cause))


def notice_kinds(h: Harness, case_id: str) -> list[str]:
    with h.db.session() as session:
        rows = session.exec(select(NoticeRecord).where(NoticeRecord.case_id == case_id)).all()
        return [r.kind for r in rows if r.status == "sent"]


async def test_won_back_by_the_owner_ends_retained(harness: Harness) -> None:
    customer = harness.add_customer()
    handle = await harness.start(customer)
    await harness.decide(
        handle, TaskKind.WIN_BACK, TaskDecision.RETAINED, comment="discount agreed"
    )
    result: CaseResult = await handle.result()

    assert result.outcome is Outcome.RETAINED
    case = harness.cases.get_case(result.case_id)
    assert case is not None and case.outcome == Outcome.RETAINED and case.stage == Stage.CLOSED
    assert notice_kinds(harness, result.case_id) == [NoticeKind.WIN_BACK]
    assert any("keep you" in s for s in harness.mail.subjects())
    assert ReferenceCrm(harness.db).get_profile(customer).status == "active"  # type: ignore[union-attr]


async def test_customer_answering_stay_ends_retained(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer())
    await harness.task(handle, TaskKind.WIN_BACK)
    await handle.execute_update(
        CloseCustomerWorkflow.respond, CustomerAnswer(CustomerResponse.STAY, OWNER_ACTOR)
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.RETAINED
    assert "customer_stay" in harness.actions(result.case_id)
    tasks = harness.cases.case_tasks(result.case_id)
    assert [(t.kind, t.decision) for t in tasks] == [(TaskKind.WIN_BACK, TaskDecision.RETAINED)]


async def test_approved_case_is_deleted_after_three_years(harness: Harness) -> None:
    customer = harness.add_customer()
    crm = ReferenceCrm(harness.db)
    handle = await harness.start(customer)
    await harness.approve_closure(handle)
    status = await harness.stage(handle, Stage.RETENTION)
    assert status.retention_end is not None
    case_id = status.case_id
    archived_at = next(
        e.at for e in harness.cases.case_audit(case_id) if e.action == "customer_archived"
    )
    assert (
        timedelta(days=3 * 365 - 1)
        < status.retention_end - archived_at
        <= timedelta(days=3 * 365, minutes=1)
    )
    # While retained: closed, access revoked, minimised, one verified bundle.
    profile = crm.get_profile(customer)
    assert profile is not None and profile.status == "closed"
    assert crm.access_grants(customer).none
    assert "interactions" not in crm.remaining_records(customer)
    assert len(archive_store_from(harness.settings).keys(f"{customer}/")) == 1

    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.DELETED
    deleted_at = next(
        e.at
        for e in harness.cases.case_audit(result.case_id)
        if e.action == "customer_data_deleted"
    )
    assert deleted_at >= status.retention_end
    assert crm.remaining_records(customer) == {}
    assert archive_store_from(harness.settings).keys(f"{customer}/") == []
    actions = harness.actions(result.case_id)
    assert_deleted_in_order(actions)
    assert actions.index("backup_verified") < actions.index("access_revoked")
    assert notice_kinds(harness, result.case_id) == [
        NoticeKind.WIN_BACK,
        NoticeKind.ADVANCE_NOTICE,
        NoticeKind.REMINDER,
        NoticeKind.CLOSED,
    ]
    case = harness.cases.get_case(result.case_id)
    assert case is not None and case.effective_at is not None
    reminded = next(
        e.at
        for e in harness.cases.case_audit(result.case_id)
        if e.action == "notice_sent" and e.details.get("kind") == NoticeKind.REMINDER
    )
    assert abs(reminded - (case.effective_at - timedelta(days=7))) < timedelta(seconds=1)
    closed = next(m for m in harness.mail.messages if "is closed" in str(m["Subject"]))
    assert {"text/plain", "text/html"} <= set(harness.mail.parts(closed))
    # The outbox forgot where the notices went; the standard policy sends no confirmation.
    assert outbox(harness, result.case_id) == [(None, None)] * 4


def outbox(h: Harness, case_id: str) -> list[tuple[str | None, object]]:
    with h.db.session() as session:
        rows = session.exec(select(NoticeRecord).where(NoticeRecord.case_id == case_id)).all()
        return [(r.recipient, r.sealed) for r in rows]


async def test_the_policy_can_confirm_the_deletion_to_the_customer(harness: Harness) -> None:
    customer = harness.add_customer(locale="zh-CN")
    handle = await harness.start(customer, policy="confirming")
    await harness.approve_closure(handle)
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.DELETED
    assert notice_kinds(harness, result.case_id)[-1] == NoticeKind.DELETION_CONFIRMATION
    last = harness.mail.messages[-1]
    assert str(last["Subject"]).strip() == "您在Example Company的数据已被删除"
    assert "我们已不再保存您的地址" in harness.mail.parts(last)["text/plain"]
    actions = harness.actions(result.case_id)
    # Sealed before the deletion, sent after it, verified with the outbox already clean.
    assert (
        actions.index("customer_data_deleted")
        < max(i for i, a in enumerate(actions) if a == "notice_sent")
        < actions.index("deletion_verified")
    )
    assert outbox(harness, result.case_id) == [(None, None)] * 5
    assert ReferenceCrm(harness.db).remaining_records(customer) == {}


async def test_fraud_skips_win_back(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer(trigger=Trigger.FRAUD), trigger=Trigger.FRAUD)
    await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE)
    status = await harness.status(handle)
    assert status.stage is Stage.AWAITING_EFFECTIVE_DATE
    await harness.env.sleep(timedelta(days=31))
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.DELETED
    assert "win_back_skipped" in harness.actions(result.case_id)
    kinds = [t.kind for t in harness.cases.case_tasks(result.case_id)]
    assert TaskKind.WIN_BACK not in kinds
    assert NoticeKind.WIN_BACK not in notice_kinds(harness, result.case_id)


async def test_rejected_approval_keeps_the_customer(harness: Harness) -> None:
    customer = harness.add_customer()
    handle = await harness.start(customer)
    await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    with pytest.raises(WorkflowUpdateFailedError) as missing_comment:
        await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.REJECT)
    assert update_error(missing_comment) == ("InvalidDecision", "a comment is required to reject")
    with pytest.raises(WorkflowUpdateFailedError) as wrong_kind:
        await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.RETAINED)
    assert update_error(wrong_kind)[0] == "InvalidDecision"

    await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.REJECT, comment="key account")
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.REJECTED
    assert ReferenceCrm(harness.db).get_profile(customer).status == "active"  # type: ignore[union-attr]


async def test_second_decision_and_unknown_task_are_refused(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer())
    task = await harness.task(handle, TaskKind.WIN_BACK)
    await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    from closeout.contracts import DecisionRequest

    with pytest.raises(WorkflowUpdateFailedError) as again:
        await handle.execute_update(
            CloseCustomerWorkflow.decide,
            DecisionRequest(task.task_id, TaskDecision.RETAINED, OWNER_ACTOR),
        )
    assert update_error(again)[0] == "TaskAlreadyDecided"
    with pytest.raises(WorkflowUpdateFailedError) as unknown:
        await handle.execute_update(
            CloseCustomerWorkflow.decide, DecisionRequest("nope", TaskDecision.APPROVE, OWNER_ACTOR)
        )
    assert update_error(unknown)[0] == "UnknownTask"
    with pytest.raises(WorkflowUpdateFailedError) as compliance:
        await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, actor=COMPLIANCE)
    assert update_error(compliance)[0] == "Forbidden"
    await handle.terminate("test over")


async def test_deferred_then_approved(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer())
    await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    now = await harness.env.get_current_time()
    with pytest.raises(WorkflowUpdateFailedError) as past:
        await harness.decide(
            handle,
            TaskKind.APPROVAL,
            TaskDecision.DEFER,
            comment="later",
            defer_until=now - timedelta(days=1),
        )
    assert update_error(past) == ("InvalidDecision", "the defer date must be in the future")
    first = await harness.task(handle, TaskKind.APPROVAL)
    await harness.decide(
        handle,
        TaskKind.APPROVAL,
        TaskDecision.DEFER,
        comment="talk after audit",
        defer_until=now + timedelta(days=5),
    )
    await harness.env.sleep(timedelta(days=6))
    second = await harness.task(handle, TaskKind.APPROVAL)
    assert second.task_id != first.task_id
    assert second.created_at >= now + timedelta(days=5)
    rows = harness.cases.case_tasks((await harness.status(handle)).case_id)
    deferred = next(t for t in rows if t.id == first.task_id)
    assert deferred.decision == TaskDecision.DEFER and deferred.comment == "talk after audit"
    assert next(t for t in rows if t.id == second.task_id).note is not None
    await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE)
    await harness.env.sleep(timedelta(days=31))
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.DELETED
    # Deleted with the customer: the words, not the decisions.
    rows = harness.cases.case_tasks(result.case_id)
    deferred = next(t for t in rows if t.id == first.task_id)
    assert deferred.decision == TaskDecision.DEFER and deferred.comment is None
    assert next(t for t in rows if t.id == second.task_id).note is None


async def test_high_value_customer_needs_a_second_approver(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer(tier=ValueTier.HIGH))
    await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, actor=MANAGER_ACTOR)
    second = await harness.task(handle, TaskKind.SECOND_APPROVAL)
    assert second.assignee == MANAGER_GROUP
    with pytest.raises(WorkflowUpdateFailedError) as by_owner:
        await harness.decide(handle, TaskKind.SECOND_APPROVAL, TaskDecision.APPROVE)
    assert update_error(by_owner) == ("Forbidden", "a second_approval task is decided by a manager")
    with pytest.raises(WorkflowUpdateFailedError) as same_person:
        await harness.decide(
            handle, TaskKind.SECOND_APPROVAL, TaskDecision.APPROVE, actor=MANAGER_ACTOR
        )
    assert update_error(same_person)[0] == "FourEyes"
    assert (await harness.status(handle)).stage is Stage.APPROVAL
    await harness.decide(
        handle, TaskKind.SECOND_APPROVAL, TaskDecision.APPROVE, actor=SECOND_MANAGER
    )
    await harness.stage(handle, Stage.AWAITING_EFFECTIVE_DATE)
    await handle.terminate("test over")


async def test_tasks_are_claimed_unclaimed_and_delegated(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer())
    win_back = await harness.task(handle, TaskKind.WIN_BACK)
    assert win_back.assignee == OWNER

    async def assign(action: Assignment, actor: Actor, **kw: str) -> str:
        result = await handle.execute_update(
            CloseCustomerWorkflow.assign, AssignRequest(win_back.task_id, action, actor, **kw)
        )
        return result.assignee

    async def refused(action: Assignment, actor: Actor, **kw: str) -> tuple[str, str]:
        with pytest.raises(WorkflowUpdateFailedError) as exc:
            await assign(action, actor, **kw)
        return update_error(exc)

    assert (await refused(Assignment.CLAIM, OTHER_AM))[0] == "TaskClaimed"
    assert (await refused(Assignment.UNCLAIM, OTHER_AM))[0] == "Forbidden"
    assert (await refused(Assignment.DELEGATE, OWNER_ACTOR, to=OTHER_AM.name))[1] == (
        "a note for the new assignee is required"
    )
    assert (await refused(Assignment.CLAIM, COMPLIANCE))[0] == "Forbidden"
    assert await assign(Assignment.UNCLAIM, OWNER_ACTOR) == ACCOUNT_MANAGER_GROUP
    with pytest.raises(WorkflowUpdateFailedError) as unclaimed:
        await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    assert update_error(unclaimed)[0] == "TaskNotClaimed"
    assert await assign(Assignment.CLAIM, OTHER_AM) == OTHER_AM.name
    assert (await refused(Assignment.CLAIM, OWNER_ACTOR))[0] == "TaskClaimed"
    delegated = await assign(Assignment.DELEGATE, OTHER_AM, to=OWNER, note="you know them best")
    assert delegated == OWNER
    with pytest.raises(WorkflowUpdateFailedError) as not_theirs:
        await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED, actor=OTHER_AM)
    assert update_error(not_theirs) == ("Forbidden", f"this task is assigned to {OWNER}")
    await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    case_id = (await harness.status(handle)).case_id
    row = next(t for t in harness.cases.case_tasks(case_id) if t.id == win_back.task_id)
    assert (row.assignee, row.note, row.decided_by) == (OWNER, "you know them best", OWNER)
    moves = [
        (e.action, e.actor, e.details["assignee"])
        for e in harness.cases.case_audit(case_id)
        if e.action in {"task_claimed", "task_unclaimed", "task_delegated"}
    ]
    assert moves == [
        ("task_unclaimed", OWNER, ACCOUNT_MANAGER_GROUP),
        ("task_claimed", OTHER_AM.name, OTHER_AM.name),
        ("task_delegated", OTHER_AM.name, OWNER),
    ]
    await handle.terminate("test over")


async def test_objection_goes_to_the_owner_and_can_keep_the_customer(harness: Harness) -> None:
    customer = harness.add_customer()
    handle = await harness.start(customer)
    await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    await harness.task(handle, TaskKind.APPROVAL)
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            CloseCustomerWorkflow.respond, CustomerAnswer(CustomerResponse.OBJECT, OWNER_ACTOR)
        )
    await handle.execute_update(
        CloseCustomerWorkflow.respond,
        CustomerAnswer(CustomerResponse.OBJECT, OWNER_ACTOR, comment="We paid last week"),
    )
    review = await harness.task(handle, TaskKind.OBJECTION_REVIEW)
    assert review.assignee == OWNER
    await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE)
    # The effective date passes, but the closure waits for the objection's review, which has
    # gone past its own due date to the managers meanwhile.
    await harness.env.sleep(timedelta(days=40))
    assert (await harness.status(handle)).stage is Stage.AWAITING_EFFECTIVE_DATE
    assert (await harness.task(handle, TaskKind.OBJECTION_REVIEW)).assignee == MANAGER_GROUP
    await harness.decide(
        handle,
        TaskKind.OBJECTION_REVIEW,
        TaskDecision.REJECT,
        actor=MANAGER_ACTOR,
        comment="payment found",
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.REJECTED
    assert ReferenceCrm(harness.db).get_profile(customer).status == "active"  # type: ignore[union-attr]


async def test_cancel_compensates_what_was_done(harness: Harness) -> None:
    customer = harness.add_customer()
    crm = ReferenceCrm(harness.db)
    handle = await harness.start(customer)
    await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE)
    await harness.stage(handle, Stage.AWAITING_EFFECTIVE_DATE)
    await harness.env.sleep(timedelta(days=1))
    assert crm.get_profile(customer).status == "closing"  # type: ignore[union-attr]
    with pytest.raises(WorkflowUpdateFailedError) as no_reason:
        await handle.execute_update(CloseCustomerWorkflow.cancel, CancelRequest("  ", OWNER_ACTOR))
    assert update_error(no_reason)[0] == "InvalidRequest"
    result = await handle.execute_update(
        CloseCustomerWorkflow.cancel, CancelRequest("customer paid all invoices", OWNER_ACTOR)
    )
    assert result.outcome is Outcome.CANCELLED
    final: CaseResult = await handle.result()
    assert final.outcome is Outcome.CANCELLED
    assert crm.get_profile(customer).status == "active"  # type: ignore[union-attr]
    actions = harness.actions(final.case_id)
    assert "closure_compensated" in actions and "access_revoked" not in actions
    case = harness.cases.get_case(final.case_id)
    assert case is not None and case.outcome == Outcome.CANCELLED


async def test_cancel_refused_once_access_is_revoked(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer())
    await harness.approve_closure(handle)
    await harness.stage(handle, Stage.RETENTION)
    with pytest.raises(WorkflowUpdateFailedError) as late:
        await handle.execute_update(
            CloseCustomerWorkflow.cancel, CancelRequest("too late", OWNER_ACTOR)
        )
    assert update_error(late)[0] == "WrongStage"
    await handle.terminate("test over")


async def test_legal_hold_keeps_data_past_retention_until_released(harness: Harness) -> None:
    customer = harness.add_customer()
    crm = ReferenceCrm(harness.db)
    handle = await harness.start(customer)
    await harness.approve_closure(handle)
    await harness.stage(handle, Stage.RETENTION)
    with pytest.raises(WorkflowUpdateFailedError) as by_owner:
        await handle.execute_update(
            CloseCustomerWorkflow.place_legal_hold, HoldRequest("dispute", OWNER_ACTOR)
        )
    assert update_error(by_owner)[0] == "Forbidden"
    placed = await handle.execute_update(
        CloseCustomerWorkflow.place_legal_hold,
        HoldRequest("tax audit 2026", COMPLIANCE, reference="AUD-7"),
    )
    assert placed.hold_id is not None
    (hold,) = harness.cases.case_holds((await harness.status(handle)).case_id)
    assert (hold.reason, hold.reference) == ("tax audit 2026", "AUD-7")
    await harness.env.sleep(timedelta(days=4 * 365))
    status = await harness.status(handle)
    assert status.stage is Stage.RETENTION and len(status.legal_holds) == 1
    assert crm.get_profile(customer) is not None
    await handle.execute_update(
        CloseCustomerWorkflow.release_legal_hold,
        HoldReleaseRequest(placed.hold_id, "audit closed", COMPLIANCE),
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.DELETED
    assert crm.remaining_records(customer) == {}
    holds = harness.cases.case_holds(result.case_id)
    assert len(holds) == 1 and holds[0].released_at is not None
    assert (holds[0].reason, holds[0].reference, holds[0].release_reason) == ("", None, None)


async def test_retention_end_can_be_changed(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer())
    await harness.approve_closure(handle)
    await harness.stage(handle, Stage.RETENTION)
    now = await harness.env.get_current_time()
    new_end = now + timedelta(days=10)
    changed = await handle.execute_update(
        CloseCustomerWorkflow.change_retention,
        RetentionChange(new_end, "category policy", COMPLIANCE),
    )
    assert changed.retention_end == new_end
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.DELETED
    deleted_at = next(
        e.at
        for e in harness.cases.case_audit(result.case_id)
        if e.action == "customer_data_deleted"
    )
    assert new_end <= deleted_at < now + timedelta(days=30)
    case = harness.cases.get_case(result.case_id)
    assert case is not None and case.retention_end == new_end
    assert "retention_changed" in harness.actions(result.case_id)


async def test_reactivation_restores_from_the_archive(harness: Harness) -> None:
    customer = harness.add_customer()
    crm = ReferenceCrm(harness.db)
    handle = await harness.start(customer)
    await harness.approve_closure(handle)
    await harness.stage(handle, Stage.RETENTION)
    with harness.db.session() as session:
        assert (
            session.exec(select(CrmInteraction).where(CrmInteraction.customer_id == customer)).all()
            == []
        )
    result = await handle.execute_update(
        CloseCustomerWorkflow.reactivate,
        ReactivateRequest("customer signed a new contract", OWNER_ACTOR),
    )
    assert result.outcome is Outcome.REACTIVATED
    final: CaseResult = await handle.result()
    assert final.outcome is Outcome.REACTIVATED
    assert crm.get_profile(customer).status == "active"  # type: ignore[union-attr]
    with harness.db.session() as session:
        assert session.exec(
            select(CrmInteraction).where(CrmInteraction.customer_id == customer)
        ).all()
        users = session.exec(
            select(CrmPortalUser).where(CrmPortalUser.customer_id == customer)
        ).all()
        assert users and all(u.enabled for u in users)
    assert archive_store_from(harness.settings).keys(f"{customer}/") == []
    assert NoticeKind.REACTIVATED in notice_kinds(harness, final.case_id)


async def test_open_tasks_are_cancelled_when_the_case_ends(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer())
    await harness.task(handle, TaskKind.WIN_BACK)
    await handle.execute_update(
        CloseCustomerWorkflow.cancel, CancelRequest("opened by mistake", OWNER_ACTOR)
    )
    result: CaseResult = await handle.result()
    with harness.db.session() as session:
        tasks = session.exec(select(TaskRecord).where(TaskRecord.case_id == result.case_id)).all()
    assert [t.status for t in tasks] == [TaskStatus.CANCELLED]


async def test_refused_notice_holds_the_closure_for_the_owner(harness: Harness) -> None:
    refusing = Refusing(free_port())
    controller = Controller(refusing, hostname="127.0.0.1", port=refusing.port)
    controller.start()
    working_port = harness.settings.smtp_port
    harness.settings.smtp_port = refusing.port
    try:
        customer = harness.add_customer()
        handle = await harness.start(customer)
        review = await harness.task(handle, TaskKind.CONTACT_REVIEW)
        assert review.assignee == OWNER
    finally:
        harness.settings.smtp_port = working_port
        controller.stop()
    with harness.db.session() as session:
        contact = session.exec(
            select(CrmContact).where(CrmContact.customer_id == customer, col(CrmContact.is_primary))
        ).one()
    assert contact.bounce_count == 1
    await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE)
    await harness.env.sleep(timedelta(days=40))
    assert (await harness.status(handle)).stage is Stage.AWAITING_EFFECTIVE_DATE
    # Unanswered past its due date, the review is now the managers' to decide.
    await harness.decide(
        handle,
        TaskKind.CONTACT_REVIEW,
        TaskDecision.APPROVE,
        actor=MANAGER_ACTOR,
        comment="new e-mail on file",
    )
    await harness.stage(handle, Stage.RETENTION)
    case_id = (await harness.status(handle)).case_id
    assert "contact_unreachable" in harness.actions(case_id)
    await handle.terminate("test over")


async def test_overdue_tasks_remind_then_escalate_to_the_managers(harness: Harness) -> None:
    Accounts(harness.db, dev_mode=True).add(
        MANAGER_ACTOR.name, Role.MANAGER, DEMO_PASSWORD, locale="zh-CN"
    )
    handle = await harness.start(harness.add_customer())
    await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    approval = await harness.task(handle, TaskKind.APPROVAL)
    assert approval.due_at is not None

    def mails_to(address: str) -> list[str]:
        return [str(m["Subject"]).strip() for m in harness.mail.messages if str(m["To"]) == address]

    # A day before the due date (the standard policy), the owner is reminded once.
    await harness.env.sleep(approval.due_at - timedelta(hours=20) - await _now(harness))

    async def reminded() -> list[str]:
        return [s for s in mails_to(OWNER) if s.startswith("Reminder: Approval")]

    assert len(await eventually(reminded, what="the reminder")) == 1
    assert (await harness.task(handle, TaskKind.APPROVAL)).assignee == OWNER

    # Past the due date the task moves to the managers, who are told (in their language).
    await harness.env.sleep(timedelta(days=1))

    async def escalated() -> TaskView | None:
        task = await harness.task(handle, TaskKind.APPROVAL)
        return task if task.assignee == MANAGER_GROUP else None

    await eventually(escalated, what="the escalation")

    async def managers_told() -> list[str]:
        return mails_to(MANAGER_ACTOR.name)

    told = await eventually(managers_told, what="the managers' mail")
    customer_id = (await harness.status(handle)).customer_id
    assert told == [f"已升级：客户 {customer_id} 的审批已逾期"]  # noqa: RUF001
    case_id = (await harness.status(handle)).case_id
    row = next(t for t in harness.cases.case_tasks(case_id) if t.id == approval.task_id)
    assert row.assignee == MANAGER_GROUP and row.escalated_at is not None
    assert "task_escalated" in harness.actions(case_id)
    with pytest.raises(WorkflowUpdateFailedError) as too_late:
        await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE)
    assert update_error(too_late)[0] == "Forbidden"
    await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, actor=MANAGER_ACTOR)
    await harness.stage(handle, Stage.AWAITING_EFFECTIVE_DATE)
    assert len(mails_to(OWNER)) == 1, "the owner was reminded once, the managers were told"
    await handle.terminate("test over")


async def _now(harness: Harness) -> datetime:
    return await harness.env.get_current_time()
