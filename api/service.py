"""What the API does: reads the read model, and carries requests to the case workflows."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import schemas
from api.adapters import ApiAdapters
from api.errors import (
    UPDATE_REJECTIONS,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unavailable,
)
from api.evidence import validated_evidence
from api.temporal_gateway import TemporalGateway
from closeout.access import (
    DELEGATE_ROLES,
    may_choose_policy,
    may_see_case,
    may_see_task,
    owns_customer,
    sees_every_customer,
)
from closeout.cases.models import CaseRecord, LegalHoldRecord, TaskRecord
from closeout.constants import case_workflow_id
from closeout.contracts import (
    Actor,
    AssignRequest,
    AuditEntry,
    CancelRequest,
    CloseCustomerInput,
    CustomerAnswer,
    DecisionRequest,
    HoldReleaseRequest,
    HoldRequest,
    ReactivateRequest,
    RetentionChange,
    StageResult,
)
from closeout.domain import (
    ACCOUNT_MANAGER_GROUP,
    DEFAULT_CHURN_CLASS,
    Assignment,
    Role,
    Stage,
    TaskStatus,
)
from closeout.inbound.replies import Replies
from closeout.settings import Settings
from closeout.tokens import Principal
from closeout.users.accounts import Accounts
from workflows.case_handles import case_handle
from workflows.case_start import open_case as open_case_at_once
from workflows.close_customer import CloseCustomerWorkflow

R = TypeVar("R")


def _actor(user: Principal) -> Actor:
    return Actor(user.name, user.role)


def task_out(t: TaskRecord) -> schemas.TaskOut:
    return schemas.TaskOut.model_validate(t, from_attributes=True)


def case_summary(c: CaseRecord) -> schemas.CaseSummary:
    return schemas.CaseSummary.model_validate(c, from_attributes=True)


def hold_out(h: LegalHoldRecord) -> schemas.LegalHoldOut:
    return schemas.LegalHoldOut(**h.model_dump(exclude={"case_id"}), active=h.released_at is None)


class CaseService:
    def __init__(
        self,
        settings: Settings,
        adapters: ApiAdapters,
        temporal: TemporalGateway,
        accounts: Accounts,
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        self.repo = adapters.cases
        self.source = adapters.source
        self.temporal = temporal
        self.replies = Replies(adapters.db, self.repo.sealed)

    # ---------------------------------------------------------------- opening a case

    async def open_case(self, body: schemas.CaseIn, user: Principal) -> schemas.CaseCreated:
        evidence = validated_evidence(body.trigger, body.evidence)
        if body.policy is not None and body.policy not in self.settings.available_policies:
            known = ", ".join(sorted(self.settings.available_policies))
            raise Invalid(f"unknown policy {body.policy!r} (known: {known})")
        profile = self.source.get_profile(body.customer_id)
        if profile is None:
            raise NotFound(f"unknown customer {body.customer_id!r}")
        ruled = self.settings.policy_for(body.trigger, profile.value_tier, profile.country)
        policy = body.policy or ruled
        if not owns_customer(user.role, user.name, profile.owner):
            raise Forbidden(f"customer {body.customer_id} is {profile.owner}'s, not yours")
        if policy != ruled and not may_choose_policy(user.role):
            raise Forbidden(
                f"the policy rules give this case {ruled!r}; another policy ({policy!r}) is "
                "named by compliance officers and admins only"
            )
        existing = self.repo.open_case_for(body.customer_id)
        if existing is not None:
            raise self._already_open(body.customer_id, existing.id)
        case = CloseCustomerInput(
            case_id=str(uuid.uuid4()),
            customer_id=body.customer_id,
            trigger=body.trigger,
            churn_class=body.churn_class or DEFAULT_CHURN_CLASS[body.trigger],
            policy=policy,
            opened_by=user.name,
            evidence=evidence,
        )
        opened = await open_case_at_once(await self.temporal.client(), case)
        if isinstance(opened, str):
            raise self._already_open(body.customer_id, opened)
        return schemas.CaseCreated(
            case_id=case.case_id,
            workflow_id=case_workflow_id(body.customer_id),
            stage=Stage.OPENED if opened is None else opened.stage,
        )

    def _already_open(self, customer_id: str, case_id: str) -> Conflict:
        return Conflict(
            f"customer {customer_id!r} already has an open case {case_id}", case_id=case_id
        )

    # ---------------------------------------------------------------- reading

    def list_cases(
        self,
        stage: Stage | None,
        outcome: str | None,
        open_only: bool | None,
        limit: int,
        offset: int,
        user: Principal,
    ) -> schemas.PageOut[schemas.CaseSummary]:
        """Cases, newest first; an account manager's own customers' only, as on the pages."""
        page = self.repo.list_cases(
            stage=stage,
            outcome=outcome,
            open_only=open_only,
            limit=limit,
            offset=offset,
            owner=None if sees_every_customer(user.role) else user.name,
        )
        return schemas.PageOut[schemas.CaseSummary](
            items=[case_summary(c) for c in page.items],
            total=page.total,
            limit=limit,
            offset=offset,
        )

    def _visible_case(self, case_id: str, user: Principal) -> tuple[CaseRecord, list[TaskRecord]]:
        case = self._case(case_id)
        case_tasks = list(self.repo.case_tasks(case_id))
        if not may_see_case(user.role, user.name, case.owner, (t.assignee for t in case_tasks)):
            raise Forbidden(f"case {case_id} is not one of your customers'")
        return case, case_tasks

    def case_replies(self, case_id: str, user: Principal) -> list[schemas.ReplyOut]:
        """What came back on the case by mail, oldest first."""
        self._visible_case(case_id, user)
        return [schemas.ReplyOut.model_validate(asdict(r)) for r in self.replies.of_case(case_id)]

    def get_case(self, case_id: str, user: Principal) -> schemas.CaseDetail:
        case, case_tasks = self._visible_case(case_id, user)
        tasks = [task_out(t) for t in case_tasks]
        return schemas.CaseDetail(
            **case_summary(case).model_dump(),
            evidence=case.evidence,
            category_clocks=case.category_clocks,
            pending_tasks=[t for t in tasks if t.status == TaskStatus.OPEN],
            tasks=tasks,
            legal_holds=[hold_out(h) for h in self.repo.case_holds(case_id)],
            timeline=[
                schemas.AuditEventOut.model_validate(e, from_attributes=True)
                for e in self.repo.case_audit(case_id)
            ],
        )

    def list_tasks(
        self, status: str | None, assignee: str | None, limit: int, offset: int, user: Principal
    ) -> schemas.PageOut[schemas.TaskOut]:
        visible = [user.name, ACCOUNT_MANAGER_GROUP] if user.role is Role.ACCOUNT_MANAGER else None
        page = self.repo.list_tasks(
            status=status, assignee=assignee, limit=limit, offset=offset, among=visible
        )
        return schemas.PageOut[schemas.TaskOut](
            items=[task_out(t) for t in page.items], total=page.total, limit=limit, offset=offset
        )

    def _case(self, case_id: str) -> CaseRecord:
        case = self.repo.get_case(case_id)
        if case is None:
            raise NotFound(f"unknown case {case_id!r}")
        return case

    def _managed_case(self, case_id: str, user: Principal) -> CaseRecord:
        """A case the user may act on as the customer's manager."""
        case = self._case(case_id)
        if not owns_customer(user.role, user.name, case.owner):
            raise Forbidden(f"case {case_id} is for {case.owner}'s customer, not yours")
        return case

    def _visible_task(self, task_id: str, user: Principal) -> tuple[TaskRecord, CaseRecord]:
        task = self.repo.get_task(task_id)
        if task is None:
            raise NotFound(f"unknown task {task_id!r}")
        case = self._case(task.case_id)
        if not may_see_task(user.role, user.name, task.assignee, case.owner):
            raise Forbidden(f"task {task_id} is neither yours, your group's nor your customer's")
        return task, case

    # ---------------------------------------------------------------- human requests

    async def decide(
        self, task_id: str, body: schemas.DecisionIn, user: Principal
    ) -> schemas.DecisionOut:
        task, case = self._visible_task(task_id, user)
        if task.status != TaskStatus.OPEN:
            raise Conflict(
                f"task {task_id} is already {task.status}"
                + (f": {task.decision} by {task.decided_by}" if task.decision else ""),
            )
        request = DecisionRequest(
            task_id, body.decision, _actor(user), body.comment, body.defer_until, body.merge_into
        )
        result = await self._update(
            case, lambda h: h.execute_update(CloseCustomerWorkflow.decide, request)
        )
        return schemas.DecisionOut(
            task_id=result.task_id, decision=result.decision, stage=result.stage
        )

    async def assign(
        self,
        task_id: str,
        action: Assignment,
        user: Principal,
        to: str | None = None,
        note: str | None = None,
    ) -> schemas.AssignmentOut:
        """Claim, hand back or delegate a task; the workflow decides whether it may."""
        _task, case = self._visible_task(task_id, user)
        if action is Assignment.DELEGATE:
            target = self.accounts.by_email(to or "") if to else None
            if target is None or target.role not in DELEGATE_ROLES:
                raise Invalid(f"{to or 'nobody'} is not an account manager who can take the task")
            to = target.email
        request = AssignRequest(task_id, action, _actor(user), to=to, note=note)
        result = await self._update(
            case, lambda h: h.execute_update(CloseCustomerWorkflow.assign, request)
        )
        return schemas.AssignmentOut(task_id=result.task_id, assignee=result.assignee)

    async def respond(
        self, case_id: str, body: schemas.CustomerResponseIn, user: Principal
    ) -> schemas.CaseStateOut:
        case = self._managed_case(case_id, user)
        answer = CustomerAnswer(body.response, _actor(user), body.comment, case_id=case.id)
        return await self._state(
            case, lambda h: h.execute_update(CloseCustomerWorkflow.respond, answer)
        )

    async def cancel(
        self, case_id: str, body: schemas.ReasonIn, user: Principal
    ) -> schemas.CaseStateOut:
        case = self._managed_case(case_id, user)
        req = CancelRequest(body.reason, _actor(user), case_id=case.id)
        return await self._state(
            case, lambda h: h.execute_update(CloseCustomerWorkflow.cancel, req)
        )

    async def place_hold(
        self, case_id: str, body: schemas.LegalHoldIn, user: Principal
    ) -> schemas.CaseStateOut:
        if body.review_at is not None and body.review_at.tzinfo is None:
            raise Invalid("review_at needs a time zone (e.g. 2027-06-30T09:00:00Z)")
        case = self._case(case_id)
        req = HoldRequest(body.reason, _actor(user), body.reference, body.review_at, case.id)
        return await self._state(
            case, lambda h: h.execute_update(CloseCustomerWorkflow.place_legal_hold, req)
        )

    async def release_hold(
        self, case_id: str, hold_id: str, body: schemas.ReasonIn, user: Principal
    ) -> schemas.CaseStateOut:
        case = self._case(case_id)
        req = HoldReleaseRequest(hold_id, body.reason, _actor(user), case_id=case.id)
        return await self._state(
            case, lambda h: h.execute_update(CloseCustomerWorkflow.release_legal_hold, req)
        )

    async def change_retention(
        self, case_id: str, body: schemas.RetentionIn, user: Principal
    ) -> schemas.CaseStateOut:
        if body.retention_end.tzinfo is None:
            raise Invalid("retention_end needs a time zone (e.g. 2029-01-31T00:00:00Z)")
        case = self._case(case_id)
        req = RetentionChange(
            body.retention_end, body.reason, _actor(user), body.category, case_id=case.id
        )
        return await self._state(
            case, lambda h: h.execute_update(CloseCustomerWorkflow.change_retention, req)
        )

    def correct_churn_class(
        self, case_id: str, body: schemas.ChurnClassIn, user: Principal
    ) -> schemas.CaseSummary:
        """Correct the case's churn class, for the record and the figures: the process goes on
        as it was opened. Asking for the class the case already has changes nothing."""
        case = self._managed_case(case_id, user)
        if case.churn_class != body.churn_class:
            details = {"from": case.churn_class, "to": str(body.churn_class)}
            audit = AuditEntry(
                str(uuid.uuid4()), user.name, "churn_class_corrected", datetime.now(UTC),
                body.reason.strip(), details,
            )  # fmt: skip
            self.repo.correct_churn_class(case.id, body.churn_class, audit)
        return case_summary(self._case(case_id))

    async def reactivate(
        self, case_id: str, body: schemas.ReasonIn, user: Principal
    ) -> schemas.CaseStateOut:
        case = self._managed_case(case_id, user)
        req = ReactivateRequest(body.reason, _actor(user), case_id=case.id)
        return await self._state(
            case, lambda h: h.execute_update(CloseCustomerWorkflow.reactivate, req)
        )

    async def _state(
        self, case: CaseRecord, call: Callable[[WorkflowHandle[Any, Any]], Awaitable[StageResult]]
    ) -> schemas.CaseStateOut:
        return await case_state(self.temporal, case, call)

    async def _update(
        self, case: CaseRecord, call: Callable[[WorkflowHandle[Any, Any]], Awaitable[R]]
    ) -> R:
        return await run_update(self.temporal, case, call)


async def case_state(
    temporal: TemporalGateway,
    case: CaseRecord,
    call: Callable[[WorkflowHandle[Any, Any]], Awaitable[StageResult]],
) -> schemas.CaseStateOut:
    """Run an Update that moves the case; where it stands afterwards."""
    result = await run_update(temporal, case, call)
    return schemas.CaseStateOut(
        case_id=case.id,
        stage=result.stage,
        outcome=result.outcome,
        hold_id=result.hold_id,
        retention_end=result.retention_end,
    )


async def run_update(
    temporal: TemporalGateway,
    case: CaseRecord,
    call: Callable[[WorkflowHandle[Any, Any]], Awaitable[R]],
) -> R:
    """Run an Update on the case's workflow run; the validator's refusal becomes 4xx."""
    if case.outcome is not None:
        raise Conflict(f"case {case.id} is closed ({case.outcome})")
    client = await temporal.client()
    handle = case_handle(client, case.workflow_id, case.run_id)
    try:
        return await call(handle)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in UPDATE_REJECTIONS:
            raise UPDATE_REJECTIONS[cause.type](cause.message) from exc
        if isinstance(cause, ApplicationError) and "expected but not found" in cause.message:
            # The run the case is now in (retention, say) takes no such request.
            raise Conflict(f"case {case.id} takes no such request at its stage") from exc
        raise DomainError(f"the case refused the request: {cause}") from exc
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise Conflict(f"case {case.id} is no longer running") from exc
        raise Unavailable(f"Temporal did not answer: {exc.message}") from exc
