"""Requests while the case closes: staff decide and take tasks, add evidence, cancel; the
customer (or staff for them) answers. Each Update's rules are in workflows/case/rules.py."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from closeout.contracts import (
        AssignRequest,
        AssignResult,
        CancelRequest,
        CustomerAnswer,
        DecisionRequest,
        DecisionResult,
        EvidenceAdded,
        EvidenceRequest,
        StageResult,
        TaskReassigned,
    )
    from closeout.domain import (
        CustomerResponse,
        NoticeKind,
        Stage,
        TaskDecision,
        TaskKind,
        TaskStatus,
    )
    from workflows.case import rules
    from workflows.case.state import PATCH_DATA_EXPORT, PATCH_DECIDE_AFTER_RECORDED
    from workflows.options import DATA_STEP

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.retention_requests import RetentionRequests


class ClosingRequests(RetentionRequests):
    @workflow.update
    async def decide(self, req: DecisionRequest) -> DecisionResult:
        """An account manager's decision on one of the case's tasks."""
        task = self.tasks[req.task_id]
        task.decision = req
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
        return DecisionResult(req.task_id, req.decision, self.stage)

    @decide.validator
    def _validate_decide(self, req: DecisionRequest) -> None:
        rules.check_decide(self, req, workflow.now())

    @workflow.update
    async def assign(self, req: AssignRequest) -> AssignResult:
        """Claim a group's task, give it back to the group, or delegate it."""
        task = self.tasks[req.task_id]
        # Two requests validated in the same breath: the second finds the task taken.
        self._validate_assign(req)
        previous, task.assignee = task.assignee, rules.new_assignee(task.kind, req)
        await workflow.wait_condition(lambda: task.recorded)
        await self._do(
            CloseoutActivities.reassign_task,
            TaskReassigned(
                task.task_id,
                task.assignee,
                self._audit(
                    req.action.audit_action,
                    actor=req.actor.name,
                    reason=req.note,
                    task_id=task.task_id,
                    kind=task.kind,
                    assignee=task.assignee,
                    previous=previous,
                ),
                note=req.note,
            ),
        )
        return AssignResult(task.task_id, task.assignee, self.stage)

    @assign.validator
    def _validate_assign(self, req: AssignRequest) -> None:
        rules.check_assign(self, req)

    @workflow.update
    async def add_evidence(self, req: EvidenceRequest) -> StageResult:
        """A further trigger for this customer: kept on the case, once per trigger."""
        self.evidence_triggers.add(req.trigger)
        await self._do(
            CloseoutActivities.record_evidence,
            EvidenceAdded(
                self.input.case_id,
                req.trigger,
                req.evidence,
                self._audit("evidence_added", actor=req.actor.name, trigger=req.trigger),
            ),
        )
        return StageResult(self.stage, self.outcome)

    @add_evidence.validator
    def _validate_add_evidence(self, req: EvidenceRequest) -> None:
        rules.check_add_evidence(self, req)

    @workflow.update
    async def respond(self, answer: CustomerAnswer) -> StageResult:
        """The customer's answer: stay, object, confirm the closure, or ask for their data."""
        response = answer.response
        action = f"customer_{response}"
        extra: dict[str, Any] = {}
        if answer.link_id is not None:
            self.used_links.add(answer.link_id)
            extra["link_id"] = answer.link_id
        if response is CustomerResponse.STAY and self.stage is Stage.WIN_BACK:
            self.customer_stays = True
            await self._record(action, actor=answer.actor.name, reason=answer.comment, **extra)
        elif response in (CustomerResponse.STAY, CustomerResponse.OBJECT):
            await self._record(action, actor=answer.actor.name, reason=answer.comment, **extra)
            assert self.terms is not None
            await self._open_task(
                TaskKind.OBJECTION_REVIEW,
                self.terms.owner,
                workflow.now() + self.terms.approval_due,
                note=f"customer {response}: {answer.comment or '(no text)'}",
            )
        else:
            await self._record(action, actor=answer.actor.name, reason=answer.comment, **extra)
            if response is CustomerResponse.DOWNLOAD_DATA and workflow.patched(PATCH_DATA_EXPORT):
                export_id = str(workflow.uuid4())
                await self._run(
                    CloseoutActivities.prepare_data_export,
                    self._step("data_export_prepared", bundle_id=export_id),
                    DATA_STEP,
                )
                await self._notify(NoticeKind.DATA_EXPORT, notice_id=export_id)
        return StageResult(self.stage, self.outcome)

    @respond.validator
    def _validate_respond(self, answer: CustomerAnswer) -> None:
        rules.check_respond(self, answer)

    @workflow.update
    async def cancel(self, req: CancelRequest) -> StageResult:
        """Stop the closure before access is revoked; what was done is compensated."""
        self.cancel_request = req
        await workflow.wait_condition(lambda: self.outcome is not None)
        return StageResult(self.stage, self.outcome)

    @cancel.validator
    def _validate_cancel(self, req: CancelRequest) -> None:
        rules.check_cancel(self, req)
