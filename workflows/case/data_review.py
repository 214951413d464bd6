"""A duplicate or invalid customer record (trigger `data_quality`): its owner reviews it —
merge it into the customer it duplicates, invalidate it, or keep it. Nothing is sent to the
customer and nothing is closed: the record's status in the CRM says what the review found."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from closeout.contracts import CaseResult, CustomerStatusChange
    from closeout.domain import CustomerStatus, Outcome, TaskDecision, TaskKind

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.tasks import CaseTasks

# What each decision makes of the record, and of the case.
_STATUS = {
    TaskDecision.MERGE: CustomerStatus.MERGED,
    TaskDecision.INVALIDATE: CustomerStatus.INVALID,
}
_OUTCOME = {TaskDecision.MERGE: Outcome.MERGED, TaskDecision.INVALIDATE: Outcome.INVALIDATED}


class DataReview(CaseTasks):
    async def _data_review(self) -> CaseResult:
        assert self.terms is not None
        task = await self._open_task(
            TaskKind.DATA_REVIEW,
            self.terms.owner,
            workflow.now() + self.terms.approval_due,
            note="a duplicate or invalid record: merge it into the customer it duplicates, "
            "invalidate it, or keep it",
        )
        await self._wait(lambda: task.decision is not None and task.closed)
        assert task.decision is not None
        decided = task.decision
        actor = decided.actor.name
        if decided.decision is TaskDecision.KEEP:
            reason = decided.comment or "the review kept the record as it is"
            return await self._finish(Outcome.REJECTED, reason, actor=actor)
        status = _STATUS[decided.decision]
        details = {"merge_into": decided.merge_into} if decided.merge_into else {}
        await self._do(
            CloseoutActivities.set_customer_status,
            CustomerStatusChange(
                self.input.case_id,
                self.input.customer_id,
                status,
                self._audit(f"customer_{status}", actor=actor, reason=decided.comment, **details),
            ),
        )
        reason = decided.comment or f"merged into {decided.merge_into}"
        return await self._finish(_OUTCOME[decided.decision], reason, actor=actor)
