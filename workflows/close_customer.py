"""CloseCustomerWorkflow: one durable process per customer, from trigger to verified deletion."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from activities.notice_sending import NoticeActivities
    from activities.retention import RetentionActivities
    from activities.staff_notices import StaffActivities
    from closeout.access import (
        CLOSURE_ROLES,
        COMPLIANCE_ROLES,
        EVIDENCE_ROLES,
        may_relay_answer,
        owns_customer,
    )
    from closeout.contracts import (
        Actor,
        AssignRequest,
        AssignResult,
        AuditEntry,
        BackupResult,
        CancelRequest,
        CaseChange,
        CaseOpened,
        CaseResult,
        CaseStatus,
        CaseTerms,
        CategoryClock,
        CloseCustomerInput,
        CloseTask,
        CustomerAnswer,
        CustomerStatusChange,
        CustomerStep,
        DecisionRequest,
        DecisionResult,
        EvidenceAdded,
        EvidenceRequest,
        HoldPlaced,
        HoldReleased,
        HoldReleaseRequest,
        HoldRequest,
        HoldView,
        OpenTask,
        ReactivateRequest,
        RetentionChange,
        RetentionPeriodsChange,
        SendNotice,
        StaffNotice,
        StageResult,
        TaskReassigned,
        TaskView,
        TermsRequest,
    )
    from closeout.domain import (
        ALLOWED_DECISIONS,
        CUSTOMER_ACTOR_ROLE,
        DECISIONS_NEEDING_COMMENT,
        MANAGER_GROUP,
        SYSTEM_ACTOR,
        CustomerResponse,
        CustomerStatus,
        DataCategory,
        NoticeKind,
        Outcome,
        Role,
        StaffNoticeKind,
        Stage,
        TaskDecision,
        TaskKind,
        TaskStatus,
        Trigger,
        skips_win_back,
    )
    from workflows.retention import RetentionClocks
    from workflows.task_rules import (
        check_assignment,
        check_may_decide,
        new_assignee,
        reject,
    )


@dataclass(frozen=True)
class StepOptions:
    """Timeouts and retries of one kind of activity."""

    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None


BOOKKEEPING = StepOptions(
    timedelta(seconds=30),
    RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
)
MAIL = StepOptions(
    timedelta(seconds=60),
    RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=10)),
)
# Long data steps heartbeat (the worker sends them while the step runs), so a worker that dies
# mid-step is noticed within seconds.
DATA_STEP = StepOptions(
    timedelta(hours=2),
    RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5)),
    heartbeat=timedelta(seconds=10),
)
# Verifications read whole bundles and scan every store: the worker heartbeats them too, so a
# worker lost mid-check costs seconds, not the ten minutes of the step's timeout.
VERIFY = StepOptions(
    timedelta(minutes=10),
    RetryPolicy(
        initial_interval=timedelta(seconds=2),
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=10,
    ),
    heartbeat=timedelta(seconds=10),
)

# workflow.patched ids: each guards a change to the commands a running case emits.
PATCH_DECIDE_AFTER_RECORDED = "decide-after-task-recorded"
PATCH_CONTACT_REVIEW = "contact-review-on-refused-notice"
PATCH_REMINDER = "reminder-before-effective-date"
PATCH_DATA_EXPORT = "data-export-on-request"
PATCH_TASK_ESCALATION = "task-reminder-and-escalation"
PATCH_DELETION_CONFIRMATION = "deletion-confirmation"
PATCH_RETENTION_BY_CATEGORY = "retention-by-category"
# Tasks whose due date escalates them; a win-back task's due date ends the window by itself.
ESCALATING_TASKS = frozenset(
    {
        TaskKind.APPROVAL,
        TaskKind.SECOND_APPROVAL,
        TaskKind.OBJECTION_REVIEW,
        TaskKind.CONTACT_REVIEW,
    }
)


class CaseCancelled(Exception):
    """Raised inside the run when an accepted cancel request is noticed."""


@dataclass
class _Task:
    task_id: str
    kind: TaskKind
    assignee: str
    created_at: datetime
    due_at: datetime | None
    decision: DecisionRequest | None = None
    closed: bool = False
    # Set once the task's row exists: a decision is written only after it.
    recorded: bool = False


@workflow.defn
class CloseCustomerWorkflow:
    """Win-back → notice → approval → effective date → backup → revoke → archive → retention
    → deletion, for one customer."""

    @workflow.init
    def __init__(self, input: CloseCustomerInput) -> None:
        self.input = input
        self.stage = Stage.OPENED
        self.outcome: Outcome | None = None
        self.terms: CaseTerms | None = None
        self.tasks: dict[str, _Task] = {}
        self.watchers: list[asyncio.Task[None]] = []
        self.holds: dict[str, HoldView] = {}
        self.approvers: list[str] = []
        self.effective_at: datetime | None = None
        self.retention_end: datetime | None = None
        # Retention by data category (policies that name categories); None: one period.
        self.clocks: RetentionClocks | None = None
        self.next_timer: datetime | None = None
        self.bundle: BackupResult | None = None
        self.cancel_request: CancelRequest | None = None
        self.reactivate_request: ReactivateRequest | None = None
        self.customer_stays = False
        self.used_links: set[str] = set()
        self.evidence_triggers: set[Trigger] = {input.trigger}
        self.objection_rejected = False
        self._retention_changed = False

    # ================================================================== the process

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
        try:
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
        if await self._retain():
            await self._reactivate()
            assert self.reactivate_request is not None
            return await self._finish(
                Outcome.REACTIVATED,
                self.reactivate_request.reason,
                actor=self.reactivate_request.actor.name,
            )
        await self._delete()
        return await self._finish(Outcome.DELETED, "retention ended; deletion verified")

    async def _win_back(self) -> bool:
        """True when the customer stays."""
        assert self.terms is not None
        await self._enter(Stage.WIN_BACK)
        due = workflow.now() + self.terms.win_back_window
        task = await self._open_task(TaskKind.WIN_BACK, self.terms.owner, due)
        await self._notify(NoticeKind.WIN_BACK)
        decided = await self._wait(
            lambda: task.decision is not None or self.customer_stays, until=due
        )
        if self.customer_stays:
            if not task.closed:
                await self._close_task(
                    task, TaskStatus.DONE, "customer_answered_stay", decision=TaskDecision.RETAINED
                )
            return True
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
        self.effective_at = workflow.now() + self.terms.notice_period
        await self._do(
            CloseoutActivities.record_case_change,
            CaseChange(
                self.input.case_id,
                self._audit("effective_date_set", effective_at=self.effective_at.isoformat()),
                effective_at=self.effective_at,
            ),
        )
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
            if self.objection_rejected:
                return "a review kept the customer: the customer stays"
            if workflow.now() >= self.effective_at and not self._reviews_open():
                return None
            await self._wait(
                lambda: (
                    self.objection_rejected
                    or (
                        workflow.now() >= self.effective_at  # type: ignore[operator]
                        and not self._reviews_open()
                    )
                ),
                until=self.effective_at if workflow.now() < self.effective_at else None,
            )

    async def _remind(self) -> None:
        """The reminder the policy asks for, some days before the effective date."""
        assert self.terms is not None and self.effective_at is not None
        if self.terms.reminder_before is None or not workflow.patched(PATCH_REMINDER):
            return
        remind_at = self.effective_at - self.terms.reminder_before
        if workflow.now() < remind_at:
            await self._wait(lambda: self.objection_rejected, until=remind_at)
        if not self.objection_rejected and workflow.now() < self.effective_at:
            await self._notify(NoticeKind.REMINDER)

    async def _approval(self) -> str | None:
        assert self.terms is not None
        needed = 2 if self.terms.four_eyes else 1
        note: str | None = None
        while True:
            first = not self.approvers
            kind = TaskKind.APPROVAL if first else TaskKind.SECOND_APPROVAL
            assignee = self.terms.owner if first else MANAGER_GROUP
            task = await self._open_task(
                kind, assignee, workflow.now() + self.terms.approval_due, note=note
            )
            await self._wait_for_decision(task)
            if self.objection_rejected:
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
                await self._wait(lambda: self.objection_rejected, until=decision.defer_until)
                note = f"deferred by {decision.actor.name}: {decision.comment}"
            elif decision.decision is TaskDecision.REQUEST_INFO:
                note = f"information requested by {decision.actor.name}: {decision.comment or ''}"

    async def _wait_for_decision(self, task: _Task) -> None:
        await self._wait(lambda: task.decision is not None or self.objection_rejected)

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
        if periods and workflow.patched(PATCH_RETENTION_BY_CATEGORY):
            self.clocks = RetentionClocks.start(workflow.now(), periods)
            self.retention_end = self.clocks.last_end()
        else:
            self.retention_end = workflow.now() + self.terms.retention
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

    async def _retain(self) -> bool:
        """Wait out retention and every legal hold; True when the customer is reactivated."""
        assert self.retention_end is not None
        await self._enter(Stage.RETENTION, retention_end=self.retention_end)
        if self.clocks is not None:
            return await self._retain_by_category(self.clocks)
        while True:
            if self.reactivate_request is not None:
                return True
            now = workflow.now()
            if not self.holds and now >= self.retention_end:
                # Synchronously with the check, so no hold can slip in between.
                self.stage = Stage.DELETION
                self.next_timer = None
                return False
            self._retention_changed = False
            self.next_timer = None if self.holds else self.retention_end
            timeout = None if self.holds else self.retention_end - now
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._retention_changed or self.reactivate_request is not None,
                    timeout=timeout,
                )

    async def _retain_by_category(self, clocks: RetentionClocks) -> bool:
        """Delete each category when its own period ends and no hold stands; hand the last
        ones to the deletion stage. True when the customer is reactivated."""
        while True:
            if self.reactivate_request is not None:
                return True
            now = workflow.now()
            due = [] if self.holds else clocks.due(now)
            if due and len(due) == len(clocks.remaining()):
                self.stage = Stage.DELETION  # with the check: no hold slips in between
                self.next_timer = None
                return False
            if due:
                await self._delete_categories(due)
                continue
            self._retention_changed = False
            self.next_timer = None if self.holds else clocks.next_end()
            timeout = None if self.next_timer is None else max(self.next_timer - now, timedelta(0))
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._retention_changed or self.reactivate_request is not None,
                    timeout=timeout,
                )

    async def _delete_categories(self, categories: list[DataCategory]) -> None:
        assert self.clocks is not None
        confirmation = await self._seal_confirmation(categories)
        step = self._step("categories_deleted", categories=categories)
        await self._run(RetentionActivities.delete_categories, step, DATA_STEP)
        self.clocks.mark_deleted(categories, workflow.now())
        await self._run(
            RetentionActivities.verify_categories_deleted,
            self._step("category_deletion_verified", categories=categories),
            VERIFY,
        )
        if confirmation is not None:
            await self._notify(NoticeKind.DELETION_CONFIRMATION, notice_id=confirmation)
        self.retention_end = self.clocks.last_end()
        await self._record_retention(
            self._audit(
                "retention_clock_advanced",
                categories=[str(c) for c in categories],
                retention_end=self.retention_end.isoformat(),
            )
        )

    async def _record_retention(self, audit: AuditEntry) -> None:
        """The case's retention end and category clocks as they now stand, with why."""
        await self._do(
            CloseoutActivities.record_case_change,
            CaseChange(
                self.input.case_id,
                audit,
                retention_end=self.retention_end,
                category_clocks=self._clock_views(),
            ),
        )

    async def _seal_confirmation(self, categories: list[DataCategory]) -> str | None:
        """With retention by category, the customer hears of the deletion when their contact
        data goes: the message is sealed while it can still be written, sent right after."""
        if (
            self.terms is None
            or not self.terms.deletion_confirmation
            or self.clocks is None
            or DataCategory.CONTACT_DATA not in categories
        ):
            return None
        notice_id = str(workflow.uuid4())
        kept = [c for c in self.clocks.remaining() if c not in categories]
        notice = self._notice(NoticeKind.DELETION_CONFIRMATION, notice_id)
        if kept:
            notice = replace(notice, kept_until=max(self.clocks.ends[c] for c in kept))
        sealed = await self._run(NoticeActivities.seal_notice, notice, MAIL)
        return notice_id if sealed else None

    async def _reactivate(self) -> None:
        assert self.reactivate_request is not None
        await self._run(
            CloseoutActivities.restore_customer,
            self._step("customer_reactivated", actor=self.reactivate_request.actor.name),
            DATA_STEP,
        )
        await self._notify(NoticeKind.REACTIVATED)

    async def _delete(self) -> None:
        await self._record("stage_entered", stage=Stage.DELETION, change_stage=True)
        confirmation: str | None = None
        remaining = self.clocks.remaining() if self.clocks is not None else []
        if self.clocks is not None:
            confirmation = await self._seal_confirmation(remaining)
        elif (
            self.terms is not None
            and self.terms.deletion_confirmation
            and workflow.patched(PATCH_DELETION_CONFIRMATION)
        ):
            # Written while the customer's name and address still exist, sent once they don't.
            confirmation = str(workflow.uuid4())
            sealed = await self._run(
                NoticeActivities.seal_notice,
                self._notice(NoticeKind.DELETION_CONFIRMATION, confirmation),
                MAIL,
            )
            confirmation = confirmation if sealed else None
        await self._run(
            CloseoutActivities.delete_customer_data,
            self._step("customer_data_deleted", categories=remaining),
            DATA_STEP,
        )
        if self.clocks is not None:
            self.clocks.mark_deleted(remaining, workflow.now())
        if confirmation is not None:
            await self._notify(NoticeKind.DELETION_CONFIRMATION, notice_id=confirmation)
        await self._run(CloseoutActivities.verify_deletion, self._step("deletion_verified"), VERIFY)

    async def _compensate(self, actor: str, reason: str) -> None:
        """Undo what the closure did so far: status back to active, no archive copy left."""
        await self._do(
            CloseoutActivities.compensate_closure,
            self._step("closure_compensated", actor=actor, reason=reason),
        )

    async def _finish(self, outcome: Outcome, reason: str, actor: str = SYSTEM_ACTOR) -> CaseResult:
        self.outcome = outcome
        self.stage = Stage.CLOSED
        self.next_timer = None
        for task in list(self.tasks.values()):
            if not task.closed:
                await self._close_task(task, TaskStatus.CANCELLED, "task_cancelled", reason=reason)
        await self._do(
            CloseoutActivities.record_case_change,
            CaseChange(
                self.input.case_id,
                self._audit("case_closed", actor=actor, reason=reason, outcome=outcome),
                stage=Stage.CLOSED,
                outcome=outcome,
            ),
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CaseResult(self.input.case_id, outcome)

    # ================================================================== human requests

    @workflow.update
    async def decide(self, req: DecisionRequest) -> DecisionResult:
        """An account manager's decision on one of the case's tasks."""
        task = self.tasks[req.task_id]
        task.decision = req
        if (
            task.kind in (TaskKind.OBJECTION_REVIEW, TaskKind.CONTACT_REVIEW)
            and req.decision is TaskDecision.REJECT
        ):
            self.objection_rejected = True
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
        task = self._pending_task(req.task_id)
        check_may_decide(task.kind, task.assignee, req.actor)
        if req.decision not in ALLOWED_DECISIONS[task.kind]:
            allowed = ", ".join(sorted(ALLOWED_DECISIONS[task.kind]))
            raise reject(
                f"a {task.kind} task takes one of: {allowed} (got {req.decision})",
                "InvalidDecision",
            )
        if req.decision in DECISIONS_NEEDING_COMMENT and not (req.comment or "").strip():
            raise reject(f"a comment is required to {req.decision}", "InvalidDecision")
        if req.decision is TaskDecision.DEFER:
            if req.defer_until is None:
                raise reject("defer needs a defer_until date", "InvalidDecision")
            if req.defer_until <= workflow.now():
                raise reject("the defer date must be in the future", "InvalidDecision")
        if task.kind is TaskKind.SECOND_APPROVAL:
            if req.actor.name in self.approvers:
                raise reject(
                    "the second approval must come from someone other than the first approver",
                    "FourEyes",
                )
            if self.input.trigger is Trigger.MANUAL and req.actor.name == self.input.opened_by:
                raise reject(
                    "whoever opened a manual case cannot give its second approval", "FourEyes"
                )

    @workflow.update
    async def assign(self, req: AssignRequest) -> AssignResult:
        """Claim a group's task, give it back to the group, or delegate it."""
        task = self.tasks[req.task_id]
        # Two requests validated in the same breath: the second finds the task taken.
        self._validate_assign(req)
        previous, task.assignee = task.assignee, new_assignee(task.kind, req)
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
        task = self._pending_task(req.task_id)
        check_assignment(task.kind, task.assignee, req)

    def _pending_task(self, task_id: str) -> _Task:
        """The task a request is about, still waiting for someone, in a case still open."""
        task = self.tasks.get(task_id)
        if task is None:
            raise reject(f"task {task_id} is not part of this case", "UnknownTask")
        if task.closed or task.decision is not None:
            raise reject(f"task {task_id} has already been decided", "TaskAlreadyDecided")
        if self.outcome is not None or self.cancel_request is not None:
            raise reject("the case is closing or closed: no decision can change it", "WrongStage")
        return task

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
        self._check_case(req.case_id)
        if req.actor.role not in EVIDENCE_ROLES:
            raise reject(f"role {req.actor.role} cannot add evidence to a case", "Forbidden")
        if self.outcome is not None:
            raise reject("the case is closed", "WrongStage")
        if req.trigger in self.evidence_triggers:
            raise reject(f"the case already knows of {req.trigger}", "EvidenceKnown")

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
        self._check_case(answer.case_id)
        actor = answer.actor
        if not may_relay_answer(actor.role):
            raise reject(f"role {actor.role} cannot answer for the customer", "Forbidden")
        # The customer speaks through a signed link only, and staff relay without one.
        if (actor.role == CUSTOMER_ACTOR_ROLE) != (answer.link_id is not None):
            raise reject("a customer's own answer comes through a signed link", "Forbidden")
        self._check_owner(actor)
        if answer.link_id is not None and answer.link_id in self.used_links:
            raise reject("this link has already been used", "LinkUsed")
        if self.outcome is not None:
            raise reject("the case is closed", "WrongStage")
        if answer.response in (
            CustomerResponse.STAY,
            CustomerResponse.OBJECT,
            CustomerResponse.DOWNLOAD_DATA,
        ) and not (self.stage.cancellable and self.cancel_request is None):
            raise reject(
                "access has already been revoked: this answer no longer applies",
                "WrongStage",
            )
        if answer.response is CustomerResponse.OBJECT and not (answer.comment or "").strip():
            raise reject("an objection needs the customer's text", "InvalidRequest")

    @workflow.update
    async def cancel(self, req: CancelRequest) -> StageResult:
        """Stop the closure before access is revoked; what was done is compensated."""
        self.cancel_request = req
        await workflow.wait_condition(lambda: self.outcome is not None)
        return StageResult(self.stage, self.outcome)

    @cancel.validator
    def _validate_cancel(self, req: CancelRequest) -> None:
        self._check_case(req.case_id)
        if req.actor.role not in CLOSURE_ROLES:
            raise reject(f"role {req.actor.role} cannot cancel a closure", "Forbidden")
        self._check_owner(req.actor)
        if not req.reason.strip():
            raise reject("a reason is required to cancel", "InvalidRequest")
        if self.outcome is not None or self.cancel_request is not None:
            raise reject("the case is already closing or closed", "WrongStage")
        if not self.stage.cancellable:
            raise reject(
                f"the case is at {self.stage}: it can no longer be cancelled once access "
                "revocation has started",
                "WrongStage",
            )

    @workflow.update
    async def place_legal_hold(self, req: HoldRequest) -> StageResult:
        """Stop deletion until the hold is released, even past the retention end."""
        hold_id = str(workflow.uuid4())
        self.holds[hold_id] = HoldView(hold_id, req.reason, req.actor.name, workflow.now())
        self._retention_changed = True
        await self._do(
            CloseoutActivities.record_hold_placed,
            HoldPlaced(
                hold_id,
                self.input.case_id,
                req.reason,
                req.reference,
                req.actor.name,
                self._audit(
                    "legal_hold_placed",
                    actor=req.actor.name,
                    reason=req.reason,
                    hold_id=hold_id,
                    review_at=req.review_at.isoformat() if req.review_at else None,
                ),
                req.review_at,
            ),
        )
        return StageResult(self.stage, self.outcome, hold_id=hold_id)

    @place_legal_hold.validator
    def _validate_place_hold(self, req: HoldRequest) -> None:
        self._check_case(req.case_id)
        self._check_hold_role(req.actor)
        if not req.reason.strip():
            raise reject("a legal hold needs a reason", "InvalidRequest")
        if req.review_at is not None and req.review_at <= workflow.now():
            raise reject("a hold's review date must lie in the future", "InvalidRequest")
        if self.outcome is not None or self.stage is Stage.DELETION:
            raise reject("deletion has started or the case is closed", "WrongStage")

    @workflow.update
    async def release_legal_hold(self, req: HoldReleaseRequest) -> StageResult:
        del self.holds[req.hold_id]
        self._retention_changed = True
        await self._do(
            CloseoutActivities.record_hold_released,
            HoldReleased(
                req.hold_id,
                req.actor.name,
                req.reason,
                self._audit(
                    "legal_hold_released",
                    actor=req.actor.name,
                    reason=req.reason,
                    hold_id=req.hold_id,
                ),
            ),
        )
        return StageResult(self.stage, self.outcome, hold_id=req.hold_id)

    @release_legal_hold.validator
    def _validate_release_hold(self, req: HoldReleaseRequest) -> None:
        self._check_case(req.case_id)
        self._check_hold_role(req.actor)
        if req.hold_id not in self.holds:
            raise reject(f"no active legal hold {req.hold_id} on this case", "UnknownHold")
        if not req.reason.strip():
            raise reject("releasing a legal hold needs a reason", "InvalidRequest")

    @workflow.update
    async def change_retention(self, req: RetentionChange) -> StageResult:
        previous = self.retention_end
        if self.clocks is not None:
            self.clocks.set_end(req.retention_end, req.category)
            self.retention_end = self.clocks.last_end()
        else:
            self.retention_end = req.retention_end
        self._retention_changed = True
        await self._record_retention(
            self._audit(
                "retention_changed",
                actor=req.actor.name,
                reason=req.reason,
                previous=previous.isoformat() if previous else None,
                retention_end=self.retention_end.isoformat(),
                category=req.category,
            )
        )
        return StageResult(self.stage, self.outcome, retention_end=self.retention_end)

    @change_retention.validator
    def _validate_change_retention(self, req: RetentionChange) -> None:
        self._check_case(req.case_id)
        self._check_hold_role(req.actor)
        if self.stage is not Stage.RETENTION or self.outcome is not None:
            raise reject(
                f"the retention end can only change during retention (stage is {self.stage})",
                "WrongStage",
            )
        if not req.reason.strip():
            raise reject("changing the retention end needs a reason", "InvalidRequest")
        if req.category is not None and (
            self.clocks is None or req.category not in self.clocks.remaining()
        ):
            raise reject(
                f"the case keeps no {req.category} any more (or keeps no categories apart)",
                "InvalidRequest",
            )

    @workflow.update
    async def apply_retention_periods(self, req: RetentionPeriodsChange) -> StageResult:
        """A changed policy: categories still kept get their new ends (counted from the
        archive date); a case not archived yet will archive under the new periods."""
        assert self.terms is not None
        moved: dict[str, str] = {}
        if self.clocks is not None:
            for category, (_old, new) in self.clocks.moves(req.periods).items():
                self.clocks.ends[category] = new
                moved[str(category)] = new.isoformat()
            self.retention_end = self.clocks.last_end()
            self._retention_changed = True
        self.terms = replace(self.terms, category_retention=dict(req.periods))
        await self._record_retention(
            self._audit(
                "retention_policy_applied",
                actor=req.actor.name,
                reason=req.reason,
                policy=req.policy,
                moved=moved,
            )
        )
        return StageResult(self.stage, self.outcome, retention_end=self.retention_end)

    @apply_retention_periods.validator
    def _validate_apply_periods(self, req: RetentionPeriodsChange) -> None:
        self._check_case(req.case_id)
        self._check_hold_role(req.actor)
        if not req.reason.strip():
            raise reject("applying a changed policy needs a reason", "InvalidRequest")
        if req.policy != self.input.policy:
            raise reject(f"the case runs under policy {self.input.policy!r}", "InvalidRequest")
        if self.outcome is not None or self.stage is Stage.DELETION:
            raise reject("deletion has started or the case is closed", "WrongStage")
        if self.stage is Stage.RETENTION and self.clocks is None:
            raise reject(
                "this case keeps every category for one period; change its retention end",
                "WrongStage",
            )
        if any(p < timedelta(0) for p in req.periods.values()):
            raise reject("a retention period cannot be negative", "InvalidRequest")
        # A case archived under periods for some categories only would split its backup into
        # those and drop the rest before any deletion: a policy names every category, or none.
        if req.periods and set(req.periods) != set(DataCategory):
            raise reject("a policy's periods name every data category, or none", "InvalidRequest")

    @workflow.update
    async def reactivate(self, req: ReactivateRequest) -> StageResult:
        """A returning customer within retention: restore from the archive, re-grant access."""
        self.reactivate_request = req
        await workflow.wait_condition(lambda: self.outcome is not None)
        return StageResult(self.stage, self.outcome)

    @reactivate.validator
    def _validate_reactivate(self, req: ReactivateRequest) -> None:
        self._check_case(req.case_id)
        if req.actor.role not in CLOSURE_ROLES:
            raise reject(f"role {req.actor.role} cannot reactivate a customer", "Forbidden")
        self._check_owner(req.actor)
        if self.stage is not Stage.RETENTION or self.reactivate_request is not None:
            raise reject(
                "only an archived customer in retention can be reactivated "
                f"(stage is {self.stage})",
                "WrongStage",
            )
        if not req.reason.strip():
            raise reject("reactivation needs a reason", "InvalidRequest")

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

    # ================================================================== plumbing

    def _check_hold_role(self, actor: Actor) -> None:
        if actor.role not in COMPLIANCE_ROLES:
            raise reject(f"role {actor.role} cannot manage legal holds or retention", "Forbidden")

    def _check_case(self, case_id: str | None) -> None:
        """A request names its case (Closeout's own clients always do): one copied out of
        another case's history into this workflow is refused."""
        if case_id is not None and case_id != self.input.case_id:
            raise reject("the request is for another case", "Forbidden")

    def _check_owner(self, actor: Actor) -> None:
        """Staff act on a customer they manage (the API checks it before asking, this guards
        every other way in); the owner is known once the terms are in."""
        if actor.role != Role.ACCOUNT_MANAGER:
            return
        if self.terms is None:
            raise reject("the case is still starting: try again in a moment", "WrongStage")
        if not owns_customer(actor.role, actor.name, self.terms.owner):
            raise reject(f"this customer is {self.terms.owner}'s, not {actor.name}'s", "Forbidden")

    def _check_cancelled(self) -> None:
        if self.cancel_request is not None:
            raise CaseCancelled()

    def _audit(
        self, action: str, actor: str = SYSTEM_ACTOR, reason: str | None = None, **details: Any
    ) -> AuditEntry:
        return AuditEntry(
            event_id=str(workflow.uuid4()),
            actor=actor,
            action=action,
            at=workflow.now(),
            reason=reason,
            details={k: str(v) if isinstance(v, str) else v for k, v in details.items()},
        )

    def _step(
        self,
        action: str,
        actor: str = SYSTEM_ACTOR,
        reason: str | None = None,
        bundle_id: str | None = None,
        categories: list[DataCategory] | None = None,
    ) -> CustomerStep:
        if bundle_id is None and self.bundle is not None:
            bundle_id = self.bundle.bundle_id
        return CustomerStep(
            self.input.case_id,
            self.input.customer_id,
            self._audit(action, actor, reason),
            bundle_id,
            tuple(str(c) for c in categories or ()),
        )

    async def _do(self, activity: Callable[..., Any], arg: Any) -> Any:
        return await self._run(activity, arg, BOOKKEEPING)

    async def _run(self, activity: Callable[..., Any], arg: Any, options: StepOptions) -> Any:
        return await workflow.execute_activity_method(
            activity,
            arg,
            start_to_close_timeout=options.start_to_close,
            heartbeat_timeout=options.heartbeat,
            retry_policy=options.retry,
        )

    async def _enter(self, stage: Stage, retention_end: datetime | None = None) -> None:
        # Check and switch without an await between them, so a cancel accepted before the
        # switch is honoured and none is accepted after it.
        if stage.cancellable or stage is Stage.REVOKE_ACCESS:
            self._check_cancelled()
        self.stage = stage
        await self._record(
            "stage_entered", stage=stage, change_stage=True, retention_end=retention_end
        )

    async def _record(
        self,
        action: str,
        actor: str = SYSTEM_ACTOR,
        reason: str | None = None,
        stage: Stage | None = None,
        change_stage: bool = False,
        retention_end: datetime | None = None,
        **extra: Any,
    ) -> None:
        details: dict[str, Any] = {"stage": stage, **extra} if stage else extra
        await self._do(
            CloseoutActivities.record_case_change,
            CaseChange(
                self.input.case_id,
                self._audit(action, actor=actor, reason=reason, **details),
                stage=stage if change_stage else None,
                retention_end=retention_end,
                category_clocks=self._clock_views(),
            ),
        )

    def _clock_views(self) -> list[CategoryClock] | None:
        return self.clocks.views() if self.clocks is not None else None

    def _reviews_open(self) -> bool:
        return bool(
            self._open_tasks(TaskKind.OBJECTION_REVIEW) or self._open_tasks(TaskKind.CONTACT_REVIEW)
        )

    def _open_tasks(self, kind: TaskKind) -> list[_Task]:
        return [t for t in self.tasks.values() if t.kind is kind and not t.closed]

    async def _open_task(
        self, kind: TaskKind, assignee: str, due_at: datetime | None, note: str | None = None
    ) -> _Task:
        task = _Task(str(workflow.uuid4()), kind, assignee, workflow.now(), due_at)
        self.tasks[task.task_id] = task
        await self._do(
            CloseoutActivities.open_task,
            OpenTask(
                task.task_id,
                self.input.case_id,
                self.input.customer_id,
                kind,
                assignee,
                due_at,
                self._audit("task_opened", task_id=task.task_id, kind=kind, assignee=assignee),
                note=note,
            ),
        )
        task.recorded = True
        if (
            kind in ESCALATING_TASKS
            and due_at is not None
            and workflow.patched(PATCH_TASK_ESCALATION)
        ):
            # Runs beside the process: it ends when the task does.
            self.watchers.append(asyncio.create_task(self._watch_due(task)))
        return task

    async def _watch_due(self, task: _Task) -> None:
        """Remind the assignee before the due date; past it, hand the task to the managers."""
        assert task.due_at is not None and self.terms is not None

        def settled() -> bool:
            return task.closed or task.decision is not None or self.outcome is not None

        async def until(moment: datetime) -> bool:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    settled, timeout=max(moment - workflow.now(), timedelta(0))
                )
            return settled()

        before = self.terms.task_reminder_before
        if before is not None and workflow.now() < task.due_at - before:
            if await until(task.due_at - before):
                return
            await self._staff_notice(task, StaffNoticeKind.TASK_REMINDER)
        if await until(task.due_at):
            return
        previous, task.assignee = task.assignee, MANAGER_GROUP
        await self._do(
            CloseoutActivities.reassign_task,
            TaskReassigned(
                task.task_id,
                MANAGER_GROUP,
                self._audit(
                    "task_escalated",
                    reason="the task went past its due date",
                    task_id=task.task_id,
                    kind=task.kind,
                    assignee=MANAGER_GROUP,
                    previous=previous,
                ),
                note=f"escalated: due {task.due_at.isoformat()}, was with {previous}",
                escalated=True,
            ),
        )
        if not settled():
            await self._staff_notice(task, StaffNoticeKind.TASK_ESCALATED)

    async def _staff_notice(self, task: _Task, kind: StaffNoticeKind) -> None:
        assert task.due_at is not None
        await self._run(
            StaffActivities.notify_staff,
            StaffNotice(
                notice_id=str(workflow.uuid4()),
                case_id=self.input.case_id,
                task_id=task.task_id,
                task_kind=task.kind,
                customer_id=self.input.customer_id,
                kind=kind,
                assignee=task.assignee,
                due_at=task.due_at,
                audit=self._audit("staff_notified", kind=kind, task_id=task.task_id),
            ),
            MAIL,
        )

    async def _close_task(
        self,
        task: _Task,
        status: TaskStatus,
        action: str,
        decision: TaskDecision | None = None,
        actor: str = SYSTEM_ACTOR,
        reason: str | None = None,
        comment: str | None = None,
        defer_until: datetime | None = None,
    ) -> None:
        task.closed = True
        details: dict[str, Any] = {"task_id": task.task_id, "kind": task.kind}
        if decision is not None:
            details["decision"] = decision
        await self._do(
            CloseoutActivities.close_task,
            CloseTask(
                task.task_id,
                status,
                self._audit(action, actor=actor, reason=reason, **details),
                decision=decision,
                comment=comment,
                decided_by=actor,
                defer_until=defer_until,
            ),
        )

    def _notice(self, kind: NoticeKind, notice_id: str | None = None) -> SendNotice:
        return SendNotice(
            notice_id=notice_id or str(workflow.uuid4()),
            case_id=self.input.case_id,
            customer_id=self.input.customer_id,
            kind=kind,
            trigger=self.input.trigger,
            audit=self._audit("notice_sent", kind=kind),
            effective_at=self.effective_at,
            retention_end=self.retention_end,
        )

    async def _notify(self, kind: NoticeKind, notice_id: str | None = None) -> None:
        delivered = await self._run(
            NoticeActivities.send_notice, self._notice(kind, notice_id), MAIL
        )
        # Before revocation a refused notice holds the closure until the owner has looked at it.
        if (
            not delivered
            and self.terms is not None
            and self.stage.cancellable
            and workflow.patched(PATCH_CONTACT_REVIEW)
        ):
            await self._open_task(
                TaskKind.CONTACT_REVIEW,
                self.terms.owner,
                workflow.now() + self.terms.approval_due,
                note=f"the customer's mail server refused the {kind} notice for good: correct the "
                "contact data and approve to go on, or reject to keep the customer",
            )

    async def _wait(self, condition: Callable[[], bool], until: datetime | None = None) -> bool:
        """Wait for `condition` or `until`; False on timeout. A cancel request interrupts."""
        timeout: timedelta | None = None
        if until is not None:
            timeout = max(until - workflow.now(), timedelta(0))
            self.next_timer = until
        try:
            await workflow.wait_condition(
                lambda: self.cancel_request is not None or condition(), timeout=timeout
            )
            met = True
        except TimeoutError:
            met = False
        finally:
            self.next_timer = None
        self._check_cancelled()
        return met
