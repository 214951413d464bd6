"""What staff do to a case from its page, under the same rules, errors and audit as the JSON
API: cancel it (until access is revoked), reactivate the customer (in retention), record an
answer the customer gave by phone or letter, move the retention end (compliance)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, BeforeValidator, Field

from api import schemas
from api.calendar_bounds import Day
from api.deps import BoardDep, CaseServiceDep, RequestServiceDep
from api.errors import DomainError, Forbidden, validated
from api.web.cases import AnswerChannel, render_case_page
from api.web.session import Anyone, Compliance, CsrfChecked, Staff, principal
from closeout.domain import ChurnClass, CustomerResponse, DataCategory
from closeout.users.accounts import User

router = APIRouter(tags=["web"], include_in_schema=False)


class ReasonForm(BaseModel):
    reason: str = Field(default="", max_length=2000)


class AnswerForm(BaseModel):
    response: CustomerResponse
    channel: AnswerChannel
    comment: str = Field(default="", max_length=3900)


class ExtensionForm(BaseModel):
    until: Day | None = None
    reason: str = Field(default="", max_length=2000)


class ChurnClassForm(BaseModel):
    churn_class: ChurnClass
    reason: str = Field(default="", max_length=2000)


class RetentionForm(BaseModel):
    retention_end: Day | None = None
    # One category still kept, or every one when empty.
    category: Annotated[DataCategory | None, BeforeValidator(lambda v: v or None)] = None
    reason: str = Field(default="", max_length=2000)


async def _act(
    request: Request,
    user: User,
    board: BoardDep,
    case_id: str,
    shown: dict[str, Any],
    call: Callable[[], Awaitable[object]],
    done: str,
) -> Response:
    """Run the request; a refusal comes back to the case's page, explained, with the form as
    it was filled in (a 403 is the error page, and audited, as anywhere)."""
    try:
        await call()
    except DomainError as exc:
        if isinstance(exc, Forbidden):
            raise
        return await render_case_page(
            request, user, board, case_id, exc.status_code, action_error=exc.message,
            action_form=shown,
        )  # fmt: skip
    return RedirectResponse(f"/cases/{case_id}?done={done}", status_code=303)


async def _refuse(
    request: Request, user: User, board: BoardDep, case_id: str, error: str, shown: dict[str, Any]
) -> Response:
    return await render_case_page(
        request, user, board, case_id, 422, action_error=error, action_form=shown
    )


# What each reasoned action's refusal says when its reason is missing.
NEEDS_A_REASON = {
    "cancel": "cancelling needs a reason",
    "reactivate": "reactivating needs a reason",
}


async def _with_reason(
    request: Request,
    user: User,
    board: BoardDep,
    case_id: str,
    reason: str,
    action: str,
    send: Callable[[schemas.ReasonIn], Awaitable[object]],
    done: str,
) -> Response:
    """An action that takes a reason alone: refused here without one, else sent."""
    shown = {f"{action}_reason": reason}
    if not reason.strip():
        return await _refuse(request, user, board, case_id, NEEDS_A_REASON[action], shown)
    call = lambda: send(validated(schemas.ReasonIn, reason=reason.strip()))  # noqa: E731
    return await _act(request, user, board, case_id, shown, call, done)


@router.post("/cases/{case_id}/cancel", dependencies=[CsrfChecked])
async def cancel_case(
    case_id: str,
    request: Request,
    user: Staff,
    board: BoardDep,
    cases: CaseServiceDep,
    form: Annotated[ReasonForm, Form()],
) -> Response:
    """Cancel the closure before access is revoked: what was done is undone."""
    send = lambda body: cases.cancel(case_id, body, principal(user))  # noqa: E731
    return await _with_reason(
        request, user, board, case_id, form.reason, "cancel", send, "cancelled"
    )


@router.post("/cases/{case_id}/reactivate", dependencies=[CsrfChecked])
async def reactivate_customer(
    case_id: str,
    request: Request,
    user: Staff,
    board: BoardDep,
    cases: CaseServiceDep,
    form: Annotated[ReasonForm, Form()],
) -> Response:
    """Bring the customer back during retention: what is not deleted yet is restored."""
    send = lambda body: cases.reactivate(case_id, body, principal(user))  # noqa: E731
    return await _with_reason(
        request, user, board, case_id, form.reason, "reactivate", send, "reactivated"
    )


@router.post("/cases/{case_id}/customer-answer", dependencies=[CsrfChecked])
async def record_customer_answer(
    case_id: str,
    request: Request,
    user: Staff,
    board: BoardDep,
    cases: CaseServiceDep,
    form: Annotated[AnswerForm, Form()],
) -> Response:
    """An answer the customer gave by phone, letter or in person: recorded as theirs, with
    who took it (the signed-in user) and how."""
    comment = f"{form.channel}: {form.comment.strip()}" if form.comment.strip() else form.channel
    shown = {"answer_comment": form.comment}

    async def call() -> object:
        body = validated(schemas.CustomerResponseIn, response=form.response, comment=comment)
        return await cases.respond(case_id, body, principal(user))

    return await _act(request, user, board, case_id, shown, call, "answer_recorded")


@router.post("/cases/{case_id}/retention", dependencies=[CsrfChecked])
async def move_retention_end(
    case_id: str,
    request: Request,
    user: Compliance,
    board: BoardDep,
    cases: CaseServiceDep,
    form: Annotated[RetentionForm, Form()],
) -> Response:
    """Move the retention end of one category still kept, or of all, with a reason."""
    shown = {
        "retention_reason": form.reason,
        "retention_category": str(form.category or ""),
        "retention_end": form.retention_end.isoformat() if form.retention_end else "",
    }
    if form.retention_end is None or not form.reason.strip():
        error = "moving the retention end needs a date and a reason"
        return await _refuse(request, user, board, case_id, error, shown)
    retention_end = datetime.combine(form.retention_end, time(0), UTC)

    async def call() -> object:
        body = validated(
            schemas.RetentionIn,
            reason=form.reason.strip(),
            retention_end=retention_end,
            category=form.category,
        )
        return await cases.change_retention(case_id, body, principal(user))

    return await _act(request, user, board, case_id, shown, call, "retention_moved")


@router.post("/cases/{case_id}/churn-class", dependencies=[CsrfChecked])
async def correct_churn_class(
    case_id: str,
    request: Request,
    user: Staff,
    board: BoardDep,
    cases: CaseServiceDep,
    form: Annotated[ChurnClassForm, Form()],
) -> Response:
    """Correct why the customer left, with a reason (for the record and the figures)."""
    shown = {"churn_reason": form.reason}
    if not form.reason.strip():
        error = "correcting the churn class needs a reason"
        return await _refuse(request, user, board, case_id, error, shown)

    async def call() -> object:
        body = validated(
            schemas.ChurnClassIn, churn_class=form.churn_class, reason=form.reason.strip()
        )
        return cases.correct_churn_class(case_id, body, principal(user))

    return await _act(request, user, board, case_id, shown, call, "churn_corrected")


@router.post("/cases/{case_id}/request-extension", dependencies=[CsrfChecked])
async def extend_request(
    case_id: str,
    request: Request,
    user: Anyone,
    board: BoardDep,
    requests: RequestServiceDep,
    form: Annotated[ExtensionForm, Form()],
) -> Response:
    """More time to answer a customer's own request, with the reason they are told by mail."""
    shown = {
        "extension_reason": form.reason,
        "extension_until": form.until.isoformat() if form.until else "",
    }
    if form.until is None or not form.reason.strip():
        error = "an extension needs a new date and the reason the customer is told"
        return await _refuse(request, user, board, case_id, error, shown)
    until = datetime.combine(form.until, time(0), UTC)

    async def call() -> object:
        body = validated(schemas.RequestExtensionIn, reason=form.reason.strip(), until=until)
        return await requests.extend(case_id, body, principal(user))

    return await _act(request, user, board, case_id, shown, call, "request_extended")
