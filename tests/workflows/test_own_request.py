"""A customer's own request to be deleted runs on the law's clock, on the time-skipping server
with the real activities: no win-back and no notice period, an answer due in 30 days (extended
with a reason the customer reads), everything the law does not require deleted at once, the
rest kept restricted for its period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from closeout.access import Refusal
from closeout.cases.models import CaseRecord, TaskRecord
from closeout.contracts import Actor, CaseResult, CustomerAnswer, RequestExtension
from closeout.domain import (
    CUSTOMER_ACTOR_ROLE,
    CustomerResponse,
    DataCategory,
    Outcome,
    Stage,
    TaskDecision,
    TaskKind,
    Trigger,
)
from tests.support import eventually
from tests.workflows.conftest import MANAGER_ACTOR, OTHER_AM, OWNER_ACTOR, Harness
from workflows.case.state import IDENTITY_CHECK
from workflows.close_customer import CloseCustomerWorkflow

REQUEST = {"channel": "email", "requested_on": "2026-11-30"}
LEGAL = {DataCategory.CONTRACTS, DataCategory.ACCOUNTING_RECORDS}


async def _request(h: Harness, **evidence: object) -> WorkflowHandle[CloseCustomerWorkflow, object]:
    return await h.start(
        h.add_customer(),
        Trigger.CUSTOMER_REQUEST,
        policy="by-category",
        evidence={**REQUEST, **evidence},
    )


def _case(h: Harness, case_id: str) -> CaseRecord:
    found = h.cases.get_case(case_id)
    assert found is not None
    return found


def _refusal(exc: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str:
    return str(getattr(exc.value.cause, "type", ""))


async def test_a_request_keeps_only_what_the_law_requires_and_is_answered_in_time(
    harness: Harness,
) -> None:
    h = harness
    handle = await _request(h)
    task = await h.task(handle, TaskKind.APPROVAL)  # the identity check, no win-back before it
    status = await h.status(handle)
    case = _case(h, status.case_id)
    assert case.request_due_at is not None
    waits = case.request_due_at - case.opened_at
    assert abs(waits - timedelta(days=30)) < timedelta(minutes=1)
    assert [c.id for c in h.cases.open_requests()] == [case.id]
    with h.db.session() as session:
        note = h.cases.sealed.open_one(session.get(TaskRecord, task.task_id))
    assert note is not None and note.note == IDENTITY_CHECK
    assert any("We have your request" in s for s in h.mail.subjects())

    await h.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, comment="caller verified")
    retained = await h.stage(handle, Stage.RETENTION)

    async def answered() -> CaseRecord | None:
        found = _case(h, case.id)
        return found if found.request_answered_at is not None else None

    done = await eventually(answered, what="the request answered")
    clocks = {c.category: c for c in (await h.status(handle)).category_clocks}
    assert {c for c, k in clocks.items() if k.deleted_at is None} == LEGAL
    assert retained.retention_end is not None
    actions = h.actions(case.id)
    assert "win_back_skipped" not in actions and "stage_entered" in actions
    assert "request_answered" in actions and "effective_date_set" not in actions
    answer = next(e for e in h.cases.case_audit(case.id) if e.action == "request_answered")
    assert answer.details["on_time"] is True
    assert done.request_answered_at is not None and done.request_due_at is not None
    assert done.request_answered_at <= done.request_due_at
    assert h.cases.open_requests() == []
    # The customer is told what went and what stays until when (the deletion confirmation).
    confirmation = h.mail.messages[-1]
    body = h.mail.parts(confirmation)["text/plain"]
    assert "we deleted your contact details" in body
    assert "Invoices and accounting records: kept until" in body
    assert "Contracts: kept until" in body
    # The legal categories go on their own dates; the case ends deleted.
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.DELETED


async def test_a_request_proved_by_its_sender_goes_straight_to_the_closure(
    harness: Harness,
) -> None:
    handle = await _request(harness, identity_verified=True)
    await harness.stage(handle, Stage.RETENTION)
    case_id = (await harness.status(handle)).case_id
    actions = harness.actions(case_id)
    assert "identity_check_skipped" in actions and "task_opened" not in actions


async def test_a_request_is_extended_once_with_a_reason_the_customer_reads(
    harness: Harness,
) -> None:
    h = harness
    handle = await _request(h)
    await h.task(handle, TaskKind.APPROVAL)
    case = _case(h, (await h.status(handle)).case_id)
    assert case.request_due_at is not None
    first_due = case.request_due_at

    def extension(days: int, reason: str = "archived invoices must be retrieved first") -> object:
        return RequestExtension(first_due + timedelta(days=days), reason, OWNER_ACTOR, case.id)

    for wrong, refusal in [
        (extension(61), Refusal.INVALID_REQUEST),  # past the law's two more months
        (extension(0), Refusal.INVALID_REQUEST),  # not later than it is due
        (extension(20, " "), Refusal.INVALID_REQUEST),  # the customer must be told why
        (
            RequestExtension(first_due + timedelta(days=20), "x", OTHER_AM, case.id),
            Refusal.FORBIDDEN,
        ),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(CloseCustomerWorkflow.extend_request, wrong)
        assert _refusal(refused) == refusal
    await handle.execute_update(CloseCustomerWorkflow.extend_request, extension(20))
    moved = _case(h, case.id).request_due_at
    assert moved == first_due + timedelta(days=20)
    told = next(m for m in h.mail.messages if "more time" in str(m["Subject"]))
    assert "archived invoices must be retrieved first" in h.mail.parts(told)["text/plain"]
    # Past the first due date, before the extended one: answered late by the first, on time.
    await h.env.sleep(timedelta(days=35))
    # The identity check went past its due date to the managers meanwhile.
    await h.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, actor=MANAGER_ACTOR)
    await h.stage(handle, Stage.RETENTION)

    async def answered() -> bool:
        return "request_answered" in h.actions(case.id)

    await eventually(answered, what="the request answered")
    answer = next(e for e in h.cases.case_audit(case.id) if e.action == "request_answered")
    assert answer.details["on_time"] is True
    # Answered: no more extensions.
    with pytest.raises(WorkflowUpdateFailedError) as closed:
        await handle.execute_update(CloseCustomerWorkflow.extend_request, extension(40))
    assert _refusal(closed) == Refusal.WRONG_STAGE


async def test_a_request_not_from_the_customer_is_refused_and_nothing_deleted(
    harness: Harness,
) -> None:
    handle = await _request(harness)
    await harness.decide(
        handle,
        TaskKind.APPROVAL,
        TaskDecision.REJECT,
        comment="the caller could not prove to be the customer",
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.REJECTED
    actions = harness.actions(result.case_id)
    assert "customer_archived" not in actions and "categories_deleted" not in actions


async def test_other_triggers_keep_their_win_back_and_notice(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer(), policy="by-category")
    await harness.task(handle, TaskKind.WIN_BACK)
    case = _case(harness, (await harness.status(handle)).case_id)
    assert case.request_due_at is None


CUSTOMER = Actor("customer", CUSTOMER_ACTOR_ROLE)


async def test_delete_my_data_during_win_back_puts_the_case_on_the_laws_clock(
    harness: Harness,
) -> None:
    """The link in a notice: no more win-back, no advance notice, the closure as soon as the
    owner approves it, and only what the law requires kept."""
    h = harness
    handle = await h.start(h.add_customer(), policy="by-category")
    await h.task(handle, TaskKind.WIN_BACK)
    await handle.execute_update(
        CloseCustomerWorkflow.respond,
        CustomerAnswer(CustomerResponse.REQUEST_DELETION, CUSTOMER, link_id="n1.request"),
    )
    approval = await h.task(handle, TaskKind.APPROVAL)
    case = _case(h, (await h.status(handle)).case_id)
    assert case.request_due_at is not None
    assert case.evidence["further"][0]["evidence"]["identity_verified"] is True
    actions = h.actions(case.id)
    assert "win_back_ended_by_request" in actions and "request_due_set" in actions
    assert not any("will be closed on" in s for s in h.mail.subjects())  # no advance notice
    await h.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, comment="as asked")
    assert approval.task_id
    # No effective date to wait for: on to the archive at once, then the deletion.
    await h.stage(handle, Stage.RETENTION)

    async def answered() -> bool:
        return "request_answered" in h.actions(case.id)

    await eventually(answered, what="the request answered")
    clocks = (await h.status(handle)).category_clocks
    assert {c.category for c in clocks if c.deleted_at is None} == LEGAL


async def test_delete_my_data_in_retention_deletes_what_the_law_does_not_require(
    harness: Harness,
) -> None:
    h = harness
    handle = await h.start(h.add_customer(), policy="by-category")
    await h.approve_closure(handle)
    await h.stage(handle, Stage.RETENTION)
    before = {c.category for c in (await h.status(handle)).category_clocks if c.deleted_at is None}
    assert DataCategory.INTERACTION_HISTORY in before  # kept a year by the policy
    await handle.execute_update(
        CloseCustomerWorkflow.respond,
        CustomerAnswer(CustomerResponse.REQUEST_DELETION, OWNER_ACTOR, comment="by phone"),
    )
    case_id = (await h.status(handle)).case_id

    async def answered() -> bool:
        return "request_answered" in h.actions(case_id)

    await eventually(answered, what="the request answered")
    clocks = (await h.status(handle)).category_clocks
    assert {c.category for c in clocks if c.deleted_at is None} == LEGAL
    assert "retention_shortened" in h.actions(case_id)


async def test_a_request_withdrawn_in_its_cooling_off_changes_nothing(harness: Harness) -> None:
    """A policy with a cooling-off: the mail that tells the customer their request was
    received carries "keep my account", which withdraws it until the cooling-off is over."""
    h = harness
    handle = await h.start(
        h.add_customer(), Trigger.CUSTOMER_REQUEST, policy="cooling-off", evidence=REQUEST
    )

    async def received() -> object:
        return next(
            (m for m in h.mail.messages if "We have your request" in str(m["Subject"])), None
        )

    mail = await eventually(received, what="the request received")
    assert "/r/" in h.mail.parts(mail)["text/plain"]  # type: ignore[arg-type]
    await handle.execute_update(
        CloseCustomerWorkflow.respond,
        CustomerAnswer(CustomerResponse.STAY, CUSTOMER, link_id="r1.stay"),
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.CANCELLED
    actions = h.actions(result.case_id)
    assert "customer_withdrew_request" in actions and "backup_created" not in actions


async def test_a_request_not_withdrawn_goes_on_after_its_cooling_off(harness: Harness) -> None:
    h = harness
    handle = await h.start(
        h.add_customer(), Trigger.CUSTOMER_REQUEST, policy="cooling-off", evidence=REQUEST
    )
    await eventually(lambda: _has(h, handle, "request_due_set"), what="the request received")
    assert not (await h.status(handle)).pending_tasks  # nothing yet: the customer may withdraw
    await h.env.sleep(timedelta(days=2, minutes=1))
    await h.task(handle, TaskKind.APPROVAL)  # the identity check, once the cooling-off is over


async def _has(
    h: Harness, handle: WorkflowHandle[CloseCustomerWorkflow, object], action: str
) -> bool:
    return action in h.actions((await h.status(handle)).case_id)
