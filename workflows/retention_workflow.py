"""RetentionWorkflow: an archived case kept for as long as the law or policy says.

A case continues as new into this workflow, under the same workflow id, once its archive step
is done (CloseCustomerWorkflow). Here it waits out each data category's retention and every
legal hold, deletes each category on its own date and verifies it, and ends deleted — or
reactivated, if the customer comes back first. Each run continues as new once it is a year old
or its history long (workflows/case/state.py: RENEW_EVERY, MAX_RUN_EVENTS), so no history of a
case kept for thirty years grows past a year's, and every run starts on the current build of
the worker deployment.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from closeout.access import Refusal
    from closeout.contracts import (
        AssignRequest,
        AssignResult,
        CancelRequest,
        CaseResult,
        DecisionRequest,
        DecisionResult,
        StageResult,
    )
    from closeout.domain import Stage, TaskKind
    from workflows.case import rules
    from workflows.case.state import RENEW_EVERY, CaseState, RetentionInput

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.own_request import OwnRequest


@workflow.defn
class RetentionWorkflow(OwnRequest):
    """Retention → deletion by category → verified deletion, or reactivation."""

    @workflow.init
    def __init__(self, input: RetentionInput) -> None:
        CaseState.__init__(self, input.case)
        self.take_over(input)

    @workflow.run
    async def run(self, input: RetentionInput) -> CaseResult:
        self.renew_at = workflow.now() + RENEW_EVERY
        for task in self.tasks.values():
            if task.pending and task.due_at is not None:
                self._watch(task)  # a reply still to be read, carried from the last run
        if not input.entered:
            await self._enter(Stage.RETENTION, retention_end=self.retention_end)
        return await self._end_retention(await self._wait_out_retention())

    @workflow.update
    async def renew(self) -> StageResult:
        """Wake the run after a release: if a newer build of the workers is now current, the
        case continues as new on it right away instead of at its next renewal. Changes
        nothing else."""
        self._retention_changed = True
        return StageResult(self.stage, self.outcome)

    # The closing stages' requests: a case in retention refuses them for the reasons it always
    # gave (a task already decided, access already revoked), by the same rules. Only a
    # customer's reply can open a task here.
    @workflow.update
    async def decide(self, req: DecisionRequest) -> DecisionResult:
        task = self.tasks[req.task_id]
        if task.kind is not TaskKind.CUSTOMER_REPLY:
            raise _refused_in_retention()
        await self._decide_reply(task, req)
        return DecisionResult(req.task_id, req.decision, self.stage)

    @decide.validator
    def _validate_decide(self, req: DecisionRequest) -> None:
        rules.check_decide(self, req, workflow.now())

    @workflow.update
    async def assign(self, req: AssignRequest) -> AssignResult:
        if self.tasks[req.task_id].kind is not TaskKind.CUSTOMER_REPLY:
            raise _refused_in_retention()
        return await self._reassign(req)

    @assign.validator
    def _validate_assign(self, req: AssignRequest) -> None:
        rules.check_assign(self, req)

    @workflow.update
    async def cancel(self, req: CancelRequest) -> StageResult:
        raise _refused_in_retention()

    @cancel.validator
    def _validate_cancel(self, req: CancelRequest) -> None:
        rules.check_cancel(self, req)


def _refused_in_retention() -> ApplicationError:
    # Reached only if a rule let the request through: no closing task is open in retention.
    return rules.reject(
        "the case is in retention: this request no longer applies", Refusal.WRONG_STAGE
    )
