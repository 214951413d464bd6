"""Requests while the case closes: staff decide, take and delegate tasks (a reply read is
done as workflows/case/replies.py says), or cancel the closure. Each Update's rules are in
workflows/case/rules.py."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from closeout.contracts import (
        AssignRequest,
        AssignResult,
        CancelRequest,
        DecisionRequest,
        DecisionResult,
        StageResult,
    )
    from closeout.domain import (
        TaskDecision,
        TaskKind,
        TaskStatus,
    )
    from workflows.case import rules
    from workflows.case.state import PATCH_DECIDE_AFTER_RECORDED

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.own_request import OwnRequest


class ClosingRequests(OwnRequest):
    @workflow.update
    async def decide(self, req: DecisionRequest) -> DecisionResult:
        """An account manager's decision on one of the case's tasks."""
        task = self.tasks[req.task_id]
        task.decision = req
        if task.kind is TaskKind.CUSTOMER_REPLY:
            self.reading.add(task.task_id)  # until what it says is done
        if (
            task.kind in (TaskKind.OBJECTION_REVIEW, TaskKind.CONTACT_REVIEW)
            and req.decision is TaskDecision.REJECT
        ):
            self.review_kept_customer = True
        if workflow.patched(PATCH_DECIDE_AFTER_RECORDED):
            # Cases started before this patch closed the row as soon as the decision came in.
            await workflow.wait_condition(lambda: task.recorded)
        await self._close_task(
            task,
            TaskStatus.DONE,
            "task_decided",
            decision=req.decision,
            actor=req.actor.name,
            reason=req.comment,
            comment=req.comment,
            defer_until=req.defer_until,
        )
        if task.kind is TaskKind.CUSTOMER_REPLY:
            await self._reply_read(task, req)
        return DecisionResult(req.task_id, req.decision, self.stage)

    @decide.validator
    def _validate_decide(self, req: DecisionRequest) -> None:
        rules.check_decide(self, req, workflow.now())

    @workflow.update
    async def assign(self, req: AssignRequest) -> AssignResult:
        """Claim a group's task, give it back to the group, or delegate it."""
        return await self._reassign(req)

    @assign.validator
    def _validate_assign(self, req: AssignRequest) -> None:
        rules.check_assign(self, req)

    @workflow.update
    async def cancel(self, req: CancelRequest) -> StageResult:
        """Stop the closure before access is revoked; what was done is compensated."""
        self.cancel_request = req
        await workflow.wait_condition(lambda: self.outcome is not None)
        return StageResult(self.stage, self.outcome)

    @cancel.validator
    def _validate_cancel(self, req: CancelRequest) -> None:
        rules.check_cancel(self, req)
