"""How a case takes a step: an activity with its preset, an audit entry, a stage entered, a
wait that a cancel request interrupts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

from temporalio import workflow
from temporalio.types import MethodAsyncSingleParam, MethodSyncSingleParam

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from closeout.contracts import AuditEntry, CaseChange, CategoryClock, CustomerStep
    from closeout.domain import SYSTEM_ACTOR, DataCategory, Stage
    from workflows.case.state import CaseCancelled, CaseState
    from workflows.options import BOOKKEEPING

# The process itself runs in the sandbox: its parts are imported afresh for every run.


S = TypeVar("S")
P = TypeVar("P")
R = TypeVar("R")


class CaseSteps(CaseState):
    # An activity is called with its own argument and result types (async or threaded).
    @overload
    async def _run(
        self,
        activity: MethodAsyncSingleParam[S, P, R],
        arg: P,
        options: workflow.ActivityConfig,
    ) -> R: ...

    @overload
    async def _run(
        self,
        activity: MethodSyncSingleParam[S, P, R],
        arg: P,
        options: workflow.ActivityConfig,
    ) -> R: ...

    async def _run(
        self, activity: Callable[..., Any], arg: object, options: workflow.ActivityConfig
    ) -> object:
        return await workflow.execute_activity_method(activity, arg, **options)

    @overload
    async def _do(self, activity: MethodAsyncSingleParam[S, P, R], arg: P) -> R: ...

    @overload
    async def _do(self, activity: MethodSyncSingleParam[S, P, R], arg: P) -> R: ...

    async def _do(self, activity: Callable[..., Any], arg: object) -> object:
        """A bookkeeping step: a write to the read model and the audit trail."""
        return await self._run(activity, arg, BOOKKEEPING)

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

    def _clock_views(self) -> list[CategoryClock] | None:
        return self.clocks.views() if self.clocks is not None else None

    def _check_cancelled(self) -> None:
        if self.cancel_request is not None:
            raise CaseCancelled()

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
