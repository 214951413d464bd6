"""A customer's reply by mail, handed to the case by the inbound service: its owner reads it in
a `customer_reply` task and says what it means; the case then does what that answer does, as
if the customer had followed the notice's link. Nothing is decided by the machine.

Replies reach a case at every stage until it ends, retention included; the rules are in
workflows/case/rules.py.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from closeout.contracts import (
        AssignRequest,
        AssignResult,
        DecisionRequest,
        ReplyHanded,
        ReplyReceived,
        TaskReassigned,
    )
    from closeout.domain import CustomerResponse, TaskDecision, TaskKind, TaskStatus
    from workflows.case import rules
    from workflows.case.state import CaseTask

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.case_requests import CaseRequests

# What a classified reply answers, where it is one of the answers a link gives.
_ANSWERS = {
    TaskDecision.STAY: CustomerResponse.STAY,
    TaskDecision.OBJECT: CustomerResponse.OBJECT,
    TaskDecision.CONFIRM: CustomerResponse.CONFIRM_CLOSURE,
}


class CaseReplies(CaseRequests):
    @workflow.update
    async def reply(self, req: ReplyReceived) -> ReplyHanded:
        """A reply by mail, kept sealed in the read model: the owner gets a task to read and
        classify it. The same reply handed again answers with the same task."""
        if req.inbound_id in self.replies:
            await workflow.wait_condition(lambda: bool(self.replies[req.inbound_id]))
            return ReplyHanded(req.inbound_id, self.replies[req.inbound_id])
        assert self.terms is not None
        self.replies[req.inbound_id] = ""
        await self._record("customer_replied", actor=req.actor.name, inbound_id=req.inbound_id)
        task = await self._open_task(
            TaskKind.CUSTOMER_REPLY,
            self.terms.owner,
            workflow.now() + self.terms.approval_due,
            note="the customer replied by mail: read the reply and say what it means",
            inbound_id=req.inbound_id,
        )
        self.replies[req.inbound_id] = task.task_id
        return ReplyHanded(req.inbound_id, task.task_id)

    @reply.validator
    def _validate_reply(self, req: ReplyReceived) -> None:
        rules.check_reply(self, req)

    async def _reply_read(self, task: CaseTask, req: DecisionRequest) -> None:
        """What the owner read in a reply, done: an answer as the link would give it (while it
        can still change the closure), a deletion request kept as the case's evidence, or
        nothing more than the record of the decision."""
        try:
            await self._do_what_the_reply_says(task, req)
        finally:
            self.reading.discard(task.task_id)

    async def _do_what_the_reply_says(self, task: CaseTask, req: DecisionRequest) -> None:
        inbound_id = next((i for i, t in self.replies.items() if t == task.task_id), None)
        via: dict[str, Any] = {"via": "reply", "inbound_id": inbound_id}
        answer = _ANSWERS.get(req.decision)
        comment = req.comment or "(as the customer's reply says)"
        if answer is not None:
            if rules.answer_applies(self, answer):
                await self._answer(answer, req.actor.name, comment, **via)
            else:
                await self._record(
                    "reply_changes_nothing",
                    actor=req.actor.name,
                    reason=f"read as {req.decision} after access was revoked",
                    **via,
                )
        elif req.decision is TaskDecision.REQUEST_DELETION and self.outcome is None:
            await self._deletion_requested(
                req.actor.name, {"reply": inbound_id, "read_by": req.actor.name}
            )

    async def _decide_reply(self, task: CaseTask, req: DecisionRequest) -> None:
        task.decision = req
        self.reading.add(task.task_id)
        await self._close_task(
            task,
            TaskStatus.DONE,
            "task_decided",
            decision=req.decision,
            actor=req.actor.name,
            reason=req.comment,
            comment=req.comment,
        )
        await self._reply_read(task, req)

    async def _reassign(self, req: AssignRequest) -> AssignResult:
        """Claim a group's task, give it back to the group, or delegate it."""
        task = self.tasks[req.task_id]
        # Two requests validated in the same breath: the second finds the task taken.
        rules.check_assign(self, req)
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
