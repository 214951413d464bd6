"""CloseCustomerWorkflow: one durable process per customer, from trigger to verified deletion.

This file is the process, stage by stage. Its parts live in workflows/case/: the state
(state.py), how a step is taken (steps.py), tasks and notices (tasks.py), the review of a
duplicate or invalid record instead of a closure (data_review.py), retention and
deletion (retention_stage.py), the requests it answers (closing_requests.py,
retention_requests.py) and their rules (rules.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from activities.retention import RetentionActivities
    from closeout.contracts import (
        CaseChange,
        CaseOpened,
        CaseResult,
        CaseStatus,
        CloseCustomerInput,
        CustomerStatusChange,
        TermsRequest,
    )
    from closeout.domain import (
        CUSTOMER_ACTOR_ROLE,
        MANAGER_GROUP,
        SYSTEM_ACTOR,
        CustomerStatus,
        NoticeKind,
        Outcome,
        Stage,
        TaskDecision,
        TaskKind,
        TaskStatus,
        Trigger,
        skips_win_back,
    )
    from workflows.case.state import (
        IDENTITY_CHECK,
        PATCH_OWN_REQUEST,
        PATCH_REMINDER,
        PATCH_RETENTION_BY_CATEGORY,
        PATCH_RETENTION_WORKFLOW,
        CaseCancelled,
        CaseState,
        CaseTask,
    )
    from workflows.options import BOOKKEEPING, DATA_STEP, VERIFY
    from workflows.retention import RetentionClocks, request_periods

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.closing_requests import ClosingRequests
from workflows.case.data_review import DataReview


@workflow.defn
class CloseCustomerWorkflow(ClosingRequests, DataReview):
    """Win-back → notice → approval → effective date → backup → revoke → archive → retention
    → deletion, for one customer."""

    @workflow.init
    def __init__(self, input: CloseCustomerInput) -> None:
        CaseState.__init__(self, input)

    @workflow.run
    async def run(self, input: CloseCustomerInput) -> CaseResult:
        self.terms = await self._run(
            CloseoutActivities.resolve_case_terms,
            TermsRequest(input.customer_id, input.policy),
            BOOKKEEPING,
        )
        await self._do(
            CloseoutActivities.record_case_opened,
            CaseOpened(
                input,
                workflow.info().workflow_id,
                workflow.info().run_id,
                self._audit(
                    "case_opened",
                    actor=input.opened_by,
                    trigger=input.trigger,
                    churn_class=input.churn_class,
                    policy=input.policy,
                    value_tier=self.terms.value_tier,
                ),
            ),
        )
        self.case_recorded = True  # the read model has the case: `opened` answers
        try:
            if input.trigger is Trigger.DATA_QUALITY:
                # A record to review, not a customer to close (no history before has one).
                return await self._data_review()
            if (
                input.trigger is Trigger.CUSTOMER_REQUEST
                and self.terms.request_deadline is not None
                and workflow.patched(PATCH_OWN_REQUEST)
            ):
                # The customer's own request: no win-back, no notice period (own_request.py).
                # The withdrawal is open from the first moment: the mail offering it may be
                # read, and its link followed, before the step that sent it has returned.
                self.cooling_off = bool(self.terms.request_cooling_off)
                await self._request_received()
                if await self._withdrawn_in_cooling_off():
                    return await self._finish(
                        Outcome.CANCELLED,
                        "the customer withdrew their request",
                        actor=CUSTOMER_ACTOR_ROLE,
                    )
                rejected_by = None
                if self._needs_identity_check():
                    await self._enter(Stage.APPROVAL)
                    rejected_by = await self._approval(first_note=IDENTITY_CHECK)
                else:
                    await self._record(
                        "identity_check_skipped", reason="the requester's identity was verified"
                    )
            else:
                if skips_win_back(input.trigger, input.churn_class):
                    await self._record(
                        "win_back_skipped", reason="fraud or malicious churn: no win-back"
                    )
                elif await self._win_back():
                    return await self._finish(Outcome.RETAINED, "the customer was won back")
                rejected_by = await self._notice_and_approval()
            if rejected_by is not None:
                if self.stage is Stage.AWAITING_EFFECTIVE_DATE:
                    await self._compensate(SYSTEM_ACTOR, rejected_by)  # undo "closing"
                return await self._finish(Outcome.REJECTED, rejected_by)
            await self._backup()
        except CaseCancelled:
            assert self.cancel_request is not None
            await self._compensate(self.cancel_request.actor.name, self.cancel_request.reason)
            return await self._finish(
                Outcome.CANCELLED, self.cancel_request.reason, actor=self.cancel_request.actor.name
            )
        await self._revoke_access()
        await self._archive()
        if workflow.patched(PATCH_RETENTION_WORKFLOW):
            # Retention is RetentionWorkflow's, under the same workflow id: this run ends here.
            await self._continue_in_retention()
        return await self._end_retention(await self._retain())

    async def _win_back(self) -> bool:
        """True when the customer stays."""
        assert self.terms is not None
        await self._enter(Stage.WIN_BACK)
        due = workflow.now() + self.terms.win_back_window
        task = await self._open_task(TaskKind.WIN_BACK, self.terms.owner, due)
        await self._notify(NoticeKind.WIN_BACK)
        decided = await self._wait(
            lambda: (
                task.decision is not None or self.customer_stays or self.request_due is not None
            ),
            until=due,
        )
        if self.customer_stays:
            if not task.closed:
                await self._close_task(
                    task, TaskStatus.DONE, "customer_answered_stay", decision=TaskDecision.RETAINED
                )
            return True
        if self.request_due is not None and task.decision is None:
            # The customer asked to be deleted: no more winning back, on to the closure.
            await self._close_task(
                task, TaskStatus.DONE, "win_back_ended_by_request", decision=TaskDecision.FAILED
            )
            return False
        if not decided:
            await self._close_task(
                task, TaskStatus.DONE, "win_back_window_elapsed", decision=TaskDecision.FAILED
            )
            return False
        assert task.decision is not None
        return task.decision.decision is TaskDecision.RETAINED

    async def _notice_and_approval(self) -> str | None:
        """Notice, approval and the wait for the effective date; a reason if the closure is off."""
        assert self.terms is not None
        await self._enter(Stage.NOTICE)
        # A customer who asked to be deleted is not given notice of it.
        notice = timedelta(0) if self.request_due is not None else self.terms.notice_period
        self.effective_at = workflow.now() + notice
        await self._do(
            CloseoutActivities.record_case_change,
            CaseChange(
                self.input.case_id,
                self._audit("effective_date_set", effective_at=self.effective_at.isoformat()),
                effective_at=self.effective_at,
            ),
        )
        if self.request_due is None:
            await self._notify(NoticeKind.ADVANCE_NOTICE)
        await self._enter(Stage.APPROVAL)
        rejection = await self._approval()
        if rejection is not None:
            return rejection
        await self._enter(Stage.AWAITING_EFFECTIVE_DATE)
        await self._do(
            CloseoutActivities.set_customer_status,
            CustomerStatusChange(
                self.input.case_id,
                self.input.customer_id,
                CustomerStatus.CLOSING,
                self._audit("customer_marked_closing"),
            ),
        )
        await self._remind()
        # The closure waits for the date it announced, for every objection to be reviewed and
        # for every refused notice to be dealt with.
        while True:
            if self.review_kept_customer:
                return "a review kept the customer: the customer stays"
            if self._effective() and not self._reviews_open():
                return None
            await self._wait(
                lambda: (
                    self.review_kept_customer or (self._effective() and not self._reviews_open())
                ),
                until=self.effective_at if workflow.now() < self.effective_at else None,
            )

    async def _remind(self) -> None:
        """The reminder the policy asks for, some days before the effective date."""
        assert self.terms is not None and self.effective_at is not None
        if (
            self.terms.reminder_before is None
            or self.request_due is not None
            or not workflow.patched(PATCH_REMINDER)
        ):
            return
        remind_at = self.effective_at - self.terms.reminder_before
        if workflow.now() < remind_at:
            await self._wait(
                lambda: self.review_kept_customer or self.request_due is not None, until=remind_at
            )
        if (
            not self.review_kept_customer
            and self.request_due is None
            and workflow.now() < self.effective_at
        ):
            await self._notify(NoticeKind.REMINDER)

    async def _withdrawn_in_cooling_off(self) -> bool:
        """The policy's cooling-off: the customer may withdraw their request by the link in
        the mail that told them it was received. True when they did."""
        assert self.terms is not None
        if not self.terms.request_cooling_off:
            return False
        await self._wait(
            lambda: self.request_withdrawn,
            until=workflow.now() + self.terms.request_cooling_off,
        )
        self.cooling_off = False
        return self.request_withdrawn

    def _effective(self) -> bool:
        """The announced date has come, or the customer asked to be deleted meanwhile."""
        assert self.effective_at is not None
        return workflow.now() >= self.effective_at or self.request_due is not None

    async def _approval(self, first_note: str | None = None) -> str | None:
        assert self.terms is not None
        needed = 2 if self.terms.four_eyes else 1
        note = first_note
        while True:
            first = not self.approvers
            kind = TaskKind.APPROVAL if first else TaskKind.SECOND_APPROVAL
            assignee = self.terms.owner if first else MANAGER_GROUP
            task = await self._open_task(
                kind, assignee, workflow.now() + self.terms.approval_due, note=note
            )
            await self._wait_for_decision(task)
            if self.review_kept_customer:
                return "a review kept the customer: the customer stays"
            decision = task.decision
            assert decision is not None
            note = None
            if decision.decision is TaskDecision.APPROVE:
                self.approvers.append(decision.actor.name)
                if len(self.approvers) >= needed:
                    return None
            elif decision.decision is TaskDecision.REJECT:
                return f"rejected by {decision.actor.name}: {decision.comment}"
            elif decision.decision is TaskDecision.DEFER:
                assert decision.defer_until is not None
                await self._wait(lambda: self.review_kept_customer, until=decision.defer_until)
                note = f"deferred by {decision.actor.name}: {decision.comment}"
            elif decision.decision is TaskDecision.REQUEST_INFO:
                note = f"information requested by {decision.actor.name}: {decision.comment or ''}"

    async def _wait_for_decision(self, task: CaseTask) -> None:
        await self._wait(lambda: task.decision is not None or self.review_kept_customer)

    async def _backup(self) -> None:
        await self._enter(Stage.BACKUP)
        step = self._step("backup_created", bundle_id=str(workflow.uuid4()))
        self.bundle = await self._run(CloseoutActivities.backup_customer_data, step, DATA_STEP)
        await self._run(CloseoutActivities.verify_backup, self._step("backup_verified"), VERIFY)
        self._check_cancelled()

    async def _revoke_access(self) -> None:
        await self._enter(Stage.REVOKE_ACCESS)
        await self._run(CloseoutActivities.revoke_access, self._step("access_revoked"), DATA_STEP)
        await self._run(
            CloseoutActivities.verify_access_revoked,
            self._step("access_revocation_verified"),
            VERIFY,
        )

    async def _archive(self) -> None:
        assert self.terms is not None
        await self._enter(Stage.ARCHIVE)
        await self._run(
            CloseoutActivities.archive_customer, self._step("customer_archived"), DATA_STEP
        )
        periods = self.terms.category_retention
        if self.request_due is not None:
            periods = request_periods(self.terms)  # only what the law requires stays
        if periods and workflow.patched(PATCH_RETENTION_BY_CATEGORY):
            self.clocks = RetentionClocks.start(workflow.now(), periods)
            self.retention_end = self.clocks.last_end()
        else:
            self.retention_end = workflow.now() + self.terms.retention
        if self.request_due is None:  # a request is answered by its deletion confirmation
            await self._notify(NoticeKind.CLOSED)
        if self.clocks is not None:
            # Each category in its own sealed bundle, so each can be deleted on its own date.
            await self._run(
                RetentionActivities.split_archive,
                self._step("archive_split_by_category", categories=self.clocks.remaining()),
                DATA_STEP,
            )
            await self._do(
                CloseoutActivities.set_customer_status,
                CustomerStatusChange(
                    self.input.case_id,
                    self.input.customer_id,
                    CustomerStatus.RESTRICTED,
                    self._audit("customer_restricted", reason="stored, not processed"),
                ),
            )

    async def _compensate(self, actor: str, reason: str) -> None:
        """Undo what the closure did so far: status back to active, no archive copy left."""
        await self._do(
            CloseoutActivities.compensate_closure,
            self._step("closure_compensated", actor=actor, reason=reason),
        )

    @workflow.update
    async def opened(self) -> CaseStatus:
        """The case as soon as the read model has it: sent with the start (Update-with-Start),
        so opening a case answers with the case, no polling. Changes nothing."""
        await workflow.wait_condition(lambda: self.case_recorded)
        return self.status()
