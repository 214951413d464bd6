"""The case in retention: each data category kept until its own end and every legal hold is
released, then deleted and the deletion verified; or the customer reactivated."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from activities.notice_sending import NoticeActivities
    from activities.retention import RetentionActivities
    from closeout.contracts import CaseChange, CaseResult, CategoryClock
    from closeout.domain import DataCategory, NoticeKind, Outcome, Stage
    from workflows.case.state import MAX_RUN_EVENTS, PATCH_DELETION_CONFIRMATION
    from workflows.options import DATA_STEP, MAIL, VERIFY
    from workflows.retention import RetentionClocks

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.tasks import CaseTasks

# The workflow type a case in retention continues as (workflows/retention_workflow.py).
RETENTION_WORKFLOW = "RetentionWorkflow"


class CaseRetention(CaseTasks):
    async def _retain(self) -> bool:
        """Wait out retention and every legal hold; True when the customer is reactivated."""
        assert self.retention_end is not None
        await self._enter(Stage.RETENTION, retention_end=self.retention_end)
        return await self._wait_out_retention()

    async def _wait_out_retention(self) -> bool:
        """Retention entered: wait for its end and every hold's release (deleting each
        category on its own date); True when the customer is reactivated."""
        assert self.retention_end is not None
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
            if await self._renewed(now):
                continue
            self._retention_changed = False
            self.next_timer = None if self.holds else self.retention_end
            await self._wait_for_change(None if self.holds else self.retention_end)

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
            if await self._renewed(now):
                continue
            self._retention_changed = False
            self.next_timer = None if self.holds else clocks.next_end()
            await self._wait_for_change(self.next_timer)

    async def _wait_for_change(self, until: datetime | None) -> None:
        """Until `until`, a change to retention (a hold, a new end) or a reactivation; a run
        that continues as new wakes at its renewal date too."""
        now = workflow.now()
        if self.renew_at is not None:
            until = self.renew_at if until is None else min(until, self.renew_at)
        timeout = None if until is None else max(until - now, timedelta(0))
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._retention_changed or self.reactivate_request is not None,
                timeout=timeout,
            )

    async def _renewed(self, now: datetime) -> bool:
        """Continue as new when this run is a year old, its history long, or a newer build
        of the workers made current; False when it is not time yet; True when a reactivation
        came in while requests finished."""
        if self.renew_at is None:
            return False  # the path of cases that retain inside CloseCustomerWorkflow
        info = workflow.info()
        if (
            now < self.renew_at
            and info.get_current_history_length() < MAX_RUN_EVENTS
            and not info.is_continue_as_new_suggested()
            and not info.is_target_worker_deployment_version_changed()
        ):
            return False
        await self._continue_in_retention()
        return True

    async def _continue_in_retention(self) -> None:
        """Hand the case to a new run of RetentionWorkflow once every request in flight has
        finished; the new run picks up the worker deployment's current build. Returns only if
        a reactivation came in meanwhile (it is honoured on this run)."""
        await workflow.wait_condition(
            lambda: (
                self.reactivate_request is not None
                or (workflow.all_handlers_finished() and all(w.done() for w in self.watchers))
            )
        )
        if self.reactivate_request is not None:
            return
        workflow.continue_as_new(
            args=[self.retention_input()],
            workflow=RETENTION_WORKFLOW,
            initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
        )

    async def _end_retention(self, reactivated: bool) -> CaseResult:
        """Retention is over: the customer is back, or their data is deleted and verified."""
        if reactivated:
            await self._reactivate()
            assert self.reactivate_request is not None
            return await self._finish(
                Outcome.REACTIVATED,
                self.reactivate_request.reason,
                actor=self.reactivate_request.actor.name,
            )
        await self._delete()
        await self._request_answered()
        return await self._finish(Outcome.DELETED, "retention ended; deletion verified")

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
        await self._request_answered()
        self.retention_end = self.clocks.last_end()
        await self._record_retention(
            self._audit(
                "retention_clock_advanced",
                categories=[str(c) for c in categories],
                retention_end=self.retention_end.isoformat(),
            )
        )

    async def _request_answered(self) -> None:
        """What the law does not require is deleted and verified: the request is answered."""
        if self.request_due is None or self.request_answered:
            return
        self.request_answered = True
        now = workflow.now()
        await self._do(
            CloseoutActivities.record_case_change,
            CaseChange(
                self.input.case_id,
                self._audit(
                    "request_answered",
                    due_at=self.request_due.isoformat(),
                    on_time=now <= self.request_due,
                ),
                request_answered_at=now,
            ),
        )

    async def _seal_confirmation(self, categories: list[DataCategory]) -> str | None:
        """With retention by category, the customer hears of the deletion when their contact
        data goes: the message is sealed while it can still be written, sent right after."""
        if (
            self.terms is None
            or not (self.terms.deletion_confirmation or self.request_due is not None)
            or self.clocks is None
            or DataCategory.CONTACT_DATA not in categories
        ):
            return None
        notice_id = str(workflow.uuid4())
        kept = [c for c in self.clocks.remaining() if c not in categories]
        notice = self._notice(NoticeKind.DELETION_CONFIRMATION, notice_id)
        if kept:
            notice = replace(
                notice,
                kept_until=max(self.clocks.ends[c] for c in kept),
                kept=[CategoryClock(c, self.clocks.ends[c]) for c in kept],
            )
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
