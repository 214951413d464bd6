"""Requests in retention: legal holds placed and released, a retention end moved, a changed
policy applied, a customer reactivated. Each Update's rules are in workflows/case/rules.py."""

from __future__ import annotations

from dataclasses import replace

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from closeout.contracts import (
        HoldPlaced,
        HoldReleased,
        HoldReleaseRequest,
        HoldRequest,
        HoldView,
        ReactivateRequest,
        RetentionChange,
        RetentionPeriodsChange,
        StageResult,
    )
    from workflows.case import rules

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.retention_stage import CaseRetention


class RetentionRequests(CaseRetention):
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
        rules.check_place_hold(self, req, workflow.now())

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
        rules.check_release_hold(self, req)

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
        rules.check_change_retention(self, req)

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
        rules.check_apply_periods(self, req)

    @workflow.update
    async def reactivate(self, req: ReactivateRequest) -> StageResult:
        """A returning customer within retention: restore from the archive, re-grant access."""
        self.reactivate_request = req
        await workflow.wait_condition(lambda: self.outcome is not None)
        return StageResult(self.stage, self.outcome)

    @reactivate.validator
    def _validate_reactivate(self, req: ReactivateRequest) -> None:
        rules.check_reactivate(self, req)
