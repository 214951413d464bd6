"""A duplicate or invalid record is reviewed, never closed: merged into the record it
duplicates, invalidated, or kept; nothing is sent to the customer."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from closeout.contracts import CancelRequest, CaseResult, DecisionRequest
from closeout.crm.reference import ReferenceCrm
from closeout.domain import Outcome, Stage, TaskDecision, TaskKind, TaskStatus, Trigger
from tests.workflows.conftest import OWNER, OWNER_ACTOR, Harness
from tests.workflows.test_close_customer import notice_kinds, update_error
from workflows.close_customer import CloseCustomerWorkflow


async def _review(
    harness: Harness, duplicate_of: list[str] | None = None
) -> tuple[str, WorkflowHandle[CloseCustomerWorkflow, object]]:
    customer = harness.add_customer()
    evidence: dict[str, object] = (
        {"problem": "duplicate", "duplicate_of": duplicate_of, "same": ["email"]}
        if duplicate_of
        else {"problem": "no_contact"}
    )
    handle = await harness.start(customer, Trigger.DATA_QUALITY, evidence=evidence)
    return customer, handle


async def test_a_duplicate_is_merged_into_the_record_it_duplicates(harness: Harness) -> None:
    survivor = harness.add_customer()
    customer, handle = await _review(harness, [survivor])
    task = await harness.task(handle, TaskKind.DATA_REVIEW)
    status = await harness.status(handle)
    assert status.stage is Stage.OPENED and task.assignee == OWNER

    # A merge names one of the duplicates found, and nothing else takes a target.
    for decision, merge_into, refusal in (
        (TaskDecision.MERGE, None, "merge into one of the duplicates found"),
        (TaskDecision.MERGE, "someone-else", "merge into one of the duplicates found"),
        (TaskDecision.KEEP, survivor, "only a merge names a customer"),
        (TaskDecision.INVALIDATE, None, "a comment is required to invalidate"),
        (TaskDecision.APPROVE, None, "a data_review task takes one of"),
    ):
        request = DecisionRequest(task.task_id, decision, OWNER_ACTOR, merge_into=merge_into)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(CloseCustomerWorkflow.decide, request)
        assert refusal in update_error(refused)[1], (decision, merge_into)

    merge = DecisionRequest(
        task.task_id, TaskDecision.MERGE, OWNER_ACTOR, "same company", merge_into=survivor
    )
    await handle.execute_update(CloseCustomerWorkflow.decide, merge)
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.MERGED
    crm = ReferenceCrm(harness.db)
    assert crm.get_profile(customer).status == "merged"
    assert crm.get_profile(survivor).status == "active"
    audit = {e.action: e for e in harness.cases.case_audit(result.case_id)}
    assert audit["customer_merged"].details["merge_into"] == survivor
    assert audit["customer_merged"].actor == OWNER
    assert notice_kinds(harness, result.case_id) == []  # nothing went to the customer
    case = harness.cases.get_case(result.case_id)
    assert case is not None and case.outcome == Outcome.MERGED and case.trigger == "data_quality"


async def test_an_unreachable_record_is_invalidated_or_kept(harness: Harness) -> None:
    customer, handle = await _review(harness)
    await harness.decide(
        handle,
        TaskKind.DATA_REVIEW,
        TaskDecision.INVALIDATE,
        comment="test record from the 2019 migration",
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.INVALIDATED
    assert ReferenceCrm(harness.db).get_profile(customer).status == "invalid"
    assert "customer_invalid" in harness.actions(result.case_id)

    kept_customer, kept = await _review(harness)
    await harness.decide(kept, TaskKind.DATA_REVIEW, TaskDecision.KEEP)
    ended: CaseResult = await kept.result()
    assert ended.outcome is Outcome.REJECTED
    assert ReferenceCrm(harness.db).get_profile(kept_customer).status == "active"
    [task] = harness.cases.case_tasks(ended.case_id)
    assert (task.kind, task.status, task.decision) == (
        TaskKind.DATA_REVIEW,
        TaskStatus.DONE,
        TaskDecision.KEEP,
    )


async def test_a_review_can_be_cancelled(harness: Harness) -> None:
    customer, handle = await _review(harness)
    await harness.task(handle, TaskKind.DATA_REVIEW)
    await handle.execute_update(
        CloseCustomerWorkflow.cancel, CancelRequest("the CRM fixed it itself", OWNER_ACTOR)
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.CANCELLED
    assert ReferenceCrm(harness.db).get_profile(customer).status == "active"
    [task] = harness.cases.case_tasks(result.case_id)
    assert task.status == TaskStatus.CANCELLED
