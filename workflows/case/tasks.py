"""The case's tasks and notices: a task opened, watched past its due date, closed; a notice
sent, and a refused one turned into a task for the owner."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from activities.notice_sending import NoticeActivities
    from activities.staff_notices import StaffActivities
    from closeout.contracts import (
        CaseChange,
        CaseResult,
        CloseTask,
        OpenTask,
        SendNotice,
        StaffNotice,
        TaskReassigned,
    )
    from closeout.domain import (
        MANAGER_GROUP,
        SYSTEM_ACTOR,
        NoticeKind,
        Outcome,
        StaffNoticeKind,
        Stage,
        TaskDecision,
        TaskKind,
        TaskStatus,
    )
    from workflows.case.state import (
        ESCALATING_TASKS,
        PATCH_CONTACT_REVIEW,
        PATCH_TASK_ESCALATION,
        CaseTask,
    )
    from workflows.options import MAIL

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.steps import CaseSteps


class CaseTasks(CaseSteps):
    def _reviews_open(self) -> bool:
        """An objection, a refused notice or a reply still to be read holds the closure."""
        return bool(
            self._open_tasks(TaskKind.OBJECTION_REVIEW)
            or self._open_tasks(TaskKind.CONTACT_REVIEW)
            or self._open_tasks(TaskKind.CUSTOMER_REPLY)
            or self.reading
        )

    def _open_tasks(self, kind: TaskKind) -> list[CaseTask]:
        return [t for t in self.tasks.values() if t.kind is kind and not t.closed]

    async def _open_task(
        self,
        kind: TaskKind,
        assignee: str,
        due_at: datetime | None,
        note: str | None = None,
        inbound_id: str | None = None,
    ) -> CaseTask:
        task = CaseTask(str(workflow.uuid4()), kind, assignee, workflow.now(), due_at)
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
                inbound_id=inbound_id,
            ),
        )
        task.recorded = True
        if (
            kind in ESCALATING_TASKS
            and due_at is not None
            and workflow.patched(PATCH_TASK_ESCALATION)
        ):
            self._watch(task)
        return task

    def _watch(self, task: CaseTask) -> None:
        """Runs beside the process: it ends when the task does."""
        self.watchers.append(asyncio.create_task(self._watch_due(task)))

    async def _watch_due(self, task: CaseTask) -> None:
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

    async def _staff_notice(self, task: CaseTask, kind: StaffNoticeKind) -> None:
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
        task: CaseTask,
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
            request_due_at=self.request_due,
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
