"""Requests a case answers at every stage until it ends: further evidence, the customer's
answers (or staff relaying them), and the status query. Each Update's rules are in
workflows/case/rules.py."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from closeout.contracts import (
        CaseChange,
        CaseStatus,
        CustomerAnswer,
        EvidenceAdded,
        EvidenceRequest,
        StageResult,
        TaskView,
    )
    from closeout.domain import CustomerResponse, NoticeKind, Stage, TaskKind, Trigger
    from workflows.case import rules
    from workflows.case.state import PATCH_DATA_EXPORT
    from workflows.options import DATA_STEP

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.retention_requests import RetentionRequests


class CaseRequests(RetentionRequests):
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
        extra: dict[str, Any] = {}
        if answer.link_id is not None:
            self.used_links.add(answer.link_id)
            extra["link_id"] = answer.link_id
        await self._answer(answer.response, answer.actor.name, answer.comment, **extra)
        return StageResult(self.stage, self.outcome)

    async def _answer(
        self, response: CustomerResponse, actor: str, comment: str | None, **extra: Any
    ) -> None:
        """What an answer does, however it came (a link, staff relaying it, a reply read)."""
        action = f"customer_{response}"
        if response is CustomerResponse.STAY and self.cooling_off:
            self.request_withdrawn = True  # the customer's own request, withdrawn in time
            await self._record("customer_withdrew_request", actor=actor, reason=comment, **extra)
        elif response is CustomerResponse.STAY and self.stage is Stage.WIN_BACK:
            self.customer_stays = True
            await self._record(action, actor=actor, reason=comment, **extra)
        elif response in (CustomerResponse.STAY, CustomerResponse.OBJECT):
            await self._record(action, actor=actor, reason=comment, **extra)
            assert self.terms is not None
            await self._open_task(
                TaskKind.OBJECTION_REVIEW,
                self.terms.owner,
                workflow.now() + self.terms.approval_due,
                note=f"customer {response}: {comment or '(no text)'}",
            )
        else:
            await self._record(action, actor=actor, reason=comment, **extra)
            if response is CustomerResponse.REQUEST_DELETION:
                await self._deletion_requested(actor, extra)
            if response is CustomerResponse.DOWNLOAD_DATA and workflow.patched(PATCH_DATA_EXPORT):
                export_id = str(workflow.uuid4())
                await self._run(
                    CloseoutActivities.prepare_data_export,
                    self._step("data_export_prepared", bundle_id=export_id),
                    DATA_STEP,
                )
                await self._notify(NoticeKind.DATA_EXPORT, notice_id=export_id)

    async def _deletion_requested(self, actor: str, evidence: dict[str, Any]) -> None:
        """The customer asked to be deleted while their case runs (a notice's link, a reply
        read as such, staff relaying it): kept as customer_request evidence, and the law's
        clock starts. An archived customer loses at once what the law does not require; a
        closing case deletes it as soon as it is archived (workflows/case/own_request.py)."""
        assert self.terms is not None
        if Trigger.CUSTOMER_REQUEST not in self.evidence_triggers:
            self.evidence_triggers.add(Trigger.CUSTOMER_REQUEST)
            await self._do(
                CloseoutActivities.record_evidence,
                EvidenceAdded(
                    self.input.case_id,
                    Trigger.CUSTOMER_REQUEST,
                    {**evidence, "identity_verified": "link_id" in evidence},
                    self._audit("evidence_added", actor=actor, trigger=Trigger.CUSTOMER_REQUEST),
                ),
            )
        if self.request_due is not None or self.terms.request_deadline is None:
            return
        self.request_first_due = self.request_due = workflow.now() + self.terms.request_deadline
        await self._do(
            CloseoutActivities.record_case_change,
            CaseChange(
                self.input.case_id,
                self._audit("request_due_set", actor=actor, due_at=self.request_due.isoformat()),
                request_due_at=self.request_due,
            ),
        )
        if self.stage is not Stage.RETENTION:
            await self._notify(NoticeKind.REQUEST_RECEIVED)
        elif self.clocks is not None:
            keep = set(self.terms.legal_categories or ())
            for category in self.clocks.remaining():
                if category not in keep:
                    self.clocks.set_end(workflow.now(), category)
            self.retention_end = self.clocks.last_end()
            self._retention_changed = True  # the retention loop deletes them now
            await self._record_retention(
                self._audit("retention_shortened", reason="the customer asked to be deleted")
            )
        # Kept as one period for all: the request waits, due, on the compliance list, for a
        # compliance officer to move the retention end.

    @respond.validator
    def _validate_respond(self, answer: CustomerAnswer) -> None:
        rules.check_respond(self, answer)

    @workflow.query
    def status(self) -> CaseStatus:
        """Stage, timers and pending tasks, straight from the process."""
        return CaseStatus(
            case_id=self.input.case_id,
            customer_id=self.input.customer_id,
            stage=self.stage,
            outcome=self.outcome,
            trigger=self.input.trigger,
            churn_class=self.input.churn_class,
            policy=self.input.policy,
            pending_tasks=[
                TaskView(t.task_id, t.kind, t.assignee, t.created_at, t.due_at)
                for t in self.tasks.values()
                if t.recorded and not t.closed and t.decision is None
            ],
            legal_holds=list(self.holds.values()),
            effective_at=self.effective_at,
            retention_end=self.retention_end,
            next_timer=self.next_timer,
            category_clocks=self.clocks.views() if self.clocks is not None else [],
            jurisdiction=self.terms.jurisdiction if self.terms else None,
            category_retention=self.terms.category_retention if self.terms else None,
            retention_started_at=self.clocks.started_at if self.clocks is not None else None,
        )
