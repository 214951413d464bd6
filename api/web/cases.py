"""Case pages: the list, a case's progress, and opening a case by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from api import schemas
from api.deps import BoardDep, CaseServiceDep, CustomerServiceDep
from api.errors import DomainError, Forbidden, validated
from api.paging import COUNT_AHEAD, PageNumber, pager
from api.refusals import audit_refusal
from api.task_board import TaskBoard
from api.web.render import choice, render
from api.web.session import Anyone, CsrfChecked, Staff, principal
from closeout.access import COMPLIANCE_ROLES, may_choose_policy, owns_customer
from closeout.domain import ChurnClass, CustomerResponse, Outcome, Stage, Trigger
from closeout.settings import Settings
from closeout.users.accounts import User

# Where a customer's own request can still be given more time (workflows/case/rules.py).
REQUEST_OPEN_STAGES = (Stage.OPENED, Stage.APPROVAL, Stage.BACKUP, Stage.REVOKE_ACCESS)

router = APIRouter(tags=["web"], include_in_schema=False)
PAGE_SIZE = 25
# What a person may open a case for by hand; the others come from detection and webhooks.
MANUAL_TRIGGERS = (Trigger.MANUAL, Trigger.CUSTOMER_REQUEST, Trigger.FRAUD)
# Where a customer's answer still counts: before the closing takes effect.
ANSWERABLE = (Stage.WIN_BACK, Stage.NOTICE, Stage.APPROVAL, Stage.AWAITING_EFFECTIVE_DATE)


class AnswerChannel(StrEnum):
    """How an answer reached staff when it did not come through the customer's link."""

    PHONE = "phone"
    LETTER = "letter"
    IN_PERSON = "in person"
    EMAIL = "e-mail"


@router.get("/cases")
def cases_list(
    request: Request,
    user: Anyone,
    board: BoardDep,
    stage: str | None = None,
    outcome: str | None = None,
    trigger: str | None = None,
    owner: Annotated[str | None, Query(max_length=320)] = None,
    page: PageNumber = 1,
) -> Response:
    """Cases, filtered by stage, outcome, trigger and owner."""
    filters = {
        "stage": choice(Stage, stage, "stage"),
        "outcome": choice(Outcome, outcome, "outcome"),
        "trigger": choice(Trigger, trigger, "trigger"),
    }
    found = board.cases(
        user,
        stage=filters["stage"],
        outcome=filters["outcome"],
        trigger=filters["trigger"],
        owner=owner or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        count_up_to=(page - 1) * PAGE_SIZE + COUNT_AHEAD,
    )
    return render(
        request,
        user,
        "cases",
        cases=found.items,
        names=board.customer_names({c.customer_id for c in found.items}),
        page=page,
        pager=pager(page, PAGE_SIZE, found.total, found.capped),
        filters={**filters, "owner": owner or ""},
        stages=list(Stage),
        outcomes=list(Outcome),
        triggers=list(Trigger),
    )


class NewCaseForm(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64)
    trigger: Trigger
    reason: str = Field(default="", max_length=2000)
    reference: str = Field(default="", max_length=200)
    churn_class: ChurnClass | None = None
    policy: str = Field(default="", max_length=64)

    def evidence(self, today: datetime) -> dict[str, Any]:
        reason = self.reason.strip()
        if self.trigger is Trigger.CUSTOMER_REQUEST:
            return {
                "channel": "account_manager",
                "requested_on": today.date().isoformat(),
                "request_reference": self.reference.strip() or None,
                "note": reason,
            }
        if self.trigger is Trigger.FRAUD:
            return {"case_reference": self.reference.strip(), "note": reason}
        return {"reason": reason}


def _new_case_page(
    request: Request,
    user: Staff,
    customers: CustomerServiceDep,
    q: str | None,
    status: int = 200,
    error: str | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    found = customers.search(q, "active", 20, 0, principal(user)) if q else None
    settings: Settings = request.app.state.settings
    return render(
        request,
        user,
        "case_new",
        status,
        q=q or "",
        found=found.items if found else [],
        triggers=MANUAL_TRIGGERS,
        churn_classes=list(ChurnClass),
        # Only those who may name another policy than the rules' are offered the choice.
        policies=sorted(settings.available_policies) if may_choose_policy(user.role) else [],
        error=error,
        form=form or {},
    )


@router.get("/cases/new")
def new_case_page(
    request: Request,
    user: Staff,
    customers: CustomerServiceDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Find the customer, say why: the case starts at once."""
    return _new_case_page(request, user, customers, q, form={"customer_id": customer_id or ""})


@router.post("/cases/new", dependencies=[CsrfChecked])
async def open_case(
    request: Request,
    user: Staff,
    cases: CaseServiceDep,
    customers: CustomerServiceDep,
    form: Annotated[NewCaseForm, Form()],
) -> Response:
    shown = form.model_dump()
    if form.trigger not in MANUAL_TRIGGERS:
        error = f"cases for {form.trigger} are opened by detection, not by hand"
        return _new_case_page(request, user, customers, None, 422, error, shown)
    if not form.reason.strip():
        return _new_case_page(request, user, customers, None, 422, "a reason is required", shown)
    if form.trigger is Trigger.FRAUD and not form.reference.strip():
        error = "a fraud case needs the reference of the fraud report"
        return _new_case_page(request, user, customers, None, 422, error, shown)
    try:
        body = validated(
            schemas.CaseIn,
            customer_id=form.customer_id,
            trigger=form.trigger,
            evidence=form.evidence(datetime.now(UTC)),
            churn_class=form.churn_class,
            policy=form.policy or None,
        )
        created = await cases.open_case(body, principal(user))
    except DomainError as exc:
        if isinstance(exc, Forbidden):
            audit_refusal(request, exc)
        return _new_case_page(request, user, customers, None, exc.status_code, exc.message, shown)
    return RedirectResponse(f"/cases/{created.case_id}", status_code=303)


@router.get("/cases/{case_id}")
async def case_page(case_id: str, request: Request, user: Anyone, board: BoardDep) -> Response:
    """Stage progress, tasks, holds, pending timers and the audit trail of one case."""
    return await render_case_page(request, user, board, case_id)


async def render_case_page(
    request: Request,
    user: User,
    board: TaskBoard,
    case_id: str,
    status: int = 200,
    hold_error: str | None = None,
    hold_form: dict[str, Any] | None = None,
    action_error: str | None = None,
    action_form: dict[str, Any] | None = None,
) -> Response:
    page = await board.case_page(user, case_id)
    case = page.case
    stage = Stage(case.stage)
    open_case = case.outcome is None
    manages = owns_customer(user.role, user.email, case.owner)
    return render(
        request,
        user,
        "case",
        status,
        p=page,
        customer_name=page.customer.name if page.customer else page.case.customer_id,
        decided=request.query_params.get("decided"),
        hold_placed=request.query_params.get("hold") == "placed",
        done=request.query_params.get("done"),
        hold_error=hold_error,
        hold_form=hold_form or {},
        action_error=action_error,
        action_form=action_form or {},
        # The forms each person may use at this point of the case; the workflow decides
        # all the same, and its refusal comes back here.
        may_cancel=manages and open_case and stage.cancellable,
        may_reactivate=manages and open_case and stage is Stage.RETENTION,
        may_record_answer=manages and open_case and stage in ANSWERABLE,
        may_move_retention=user.role in COMPLIANCE_ROLES and open_case and stage is Stage.RETENTION,
        may_correct_churn=manages,
        may_extend_request=(manages or user.role in COMPLIANCE_ROLES)
        and open_case
        and case.request_due_at is not None
        and case.request_answered_at is None
        and stage in REQUEST_OPEN_STAGES,
        churn_classes=list(ChurnClass),
        responses=list(CustomerResponse),
        channels=list(AnswerChannel),
    )
