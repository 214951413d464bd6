"""Legal holds in the browser: placed from a case's page, listed and released here."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from api import schemas
from api.calendar_bounds import Day
from api.deps import BoardDep, CaseServiceDep, ComplianceDep
from api.errors import DomainError, Forbidden, validated
from api.refusals import audit_refusal
from api.web.cases import render_case_page
from api.web.render import render
from api.web.session import Compliance, CsrfChecked, principal

router = APIRouter(tags=["web"], include_in_schema=False)


def _holds_page(
    request: Request,
    user: Compliance,
    board: BoardDep,
    compliance: ComplianceDep,
    status: int = 200,
    error: str | None = None,
) -> Response:
    active, released = compliance.holds()
    return render(
        request,
        user,
        "holds",
        status,
        active=active,
        released=released,
        names=board.customer_names({c.customer_id for _h, c in [*active, *released] if c}),
        now=datetime.now(UTC),
        error=error,
    )


@router.get("/compliance/holds")
def holds_page(
    request: Request, user: Compliance, board: BoardDep, compliance: ComplianceDep
) -> Response:
    """Every active legal hold by review date (overdue marked), and the released ones."""
    return _holds_page(request, user, board, compliance)


class PlaceHoldForm(BaseModel):
    reason: str = Field(default="", max_length=2000)
    reference: str = Field(default="", max_length=200)
    review_on: Day | None = None


@router.post("/cases/{case_id}/legal-holds", dependencies=[CsrfChecked])
async def place_hold(
    case_id: str,
    request: Request,
    user: Compliance,
    board: BoardDep,
    cases: CaseServiceDep,
    form: Annotated[PlaceHoldForm, Form()],
) -> Response:
    """Place a hold from the case's page; a refusal comes back to that page, explained."""
    shown = form.model_dump()
    if not form.reason.strip():
        error = "a legal hold needs a reason"
        return await render_case_page(request, user, board, case_id, 422, error, shown)
    try:
        body = validated(
            schemas.LegalHoldIn,
            reason=form.reason.strip(),
            reference=form.reference.strip() or None,
            review_at=datetime.combine(form.review_on, time(9), UTC) if form.review_on else None,
        )
        await cases.place_hold(case_id, body, principal(user))
    except DomainError as exc:
        if isinstance(exc, Forbidden):
            audit_refusal(request, exc)
        return await render_case_page(
            request, user, board, case_id, exc.status_code, exc.message, shown
        )
    return RedirectResponse(f"/cases/{case_id}?hold=placed", status_code=303)


class ReleaseHoldForm(BaseModel):
    case_id: str = Field(max_length=36)
    reason: str = Field(default="", max_length=2000)


@router.post("/compliance/holds/{hold_id}/release", dependencies=[CsrfChecked])
async def release_hold(
    hold_id: str,
    request: Request,
    user: Compliance,
    board: BoardDep,
    cases: CaseServiceDep,
    compliance: ComplianceDep,
    form: Annotated[ReleaseHoldForm, Form()],
) -> Response:
    """Release a hold with a reason; deletion resumes for whatever is due."""
    if not form.reason.strip():
        error = "releasing a legal hold needs a reason"
        return _holds_page(request, user, board, compliance, 422, error)
    try:
        body = validated(schemas.ReasonIn, reason=form.reason.strip())
        await cases.release_hold(form.case_id, hold_id, body, principal(user))
    except DomainError as exc:
        if isinstance(exc, Forbidden):
            audit_refusal(request, exc)
        return _holds_page(request, user, board, compliance, exc.status_code, exc.message)
    return RedirectResponse("/compliance/holds?released=1", status_code=303)
