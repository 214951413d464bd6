"""A customer's page: their cases past and present, what detection does with them (exclusions,
the cool-down after a case), and the form that excludes them from detection for a while."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from api import schemas
from api.calendar_bounds import Day
from api.deps import CustomerServiceDep, DatabaseDep, SettingsDep
from api.errors import DomainError, Forbidden, validated
from api.web.render import render
from api.web.session import Anyone, CsrfChecked, Staff, principal
from closeout.access import CLOSURE_ROLES
from closeout.db import Database
from closeout.detection.detector import Detector
from closeout.settings import Settings

router = APIRouter(tags=["web"], include_in_schema=False)


def _customer_page(
    request: Request,
    user: Anyone,
    customers: CustomerServiceDep,
    settings: Settings,
    db: Database,
    customer_id: str,
    status: int = 200,
    error: str | None = None,
    shown: dict[str, str] | None = None,
) -> Response:
    customer = customers.get(customer_id, principal(user))  # 404 unknown, 403 not theirs
    now = datetime.now(UTC)
    exclusions = customers.detection.exclusions(customer_id)
    return render(
        request,
        user,
        "customer",
        status,
        customer=customer,
        exclusions=exclusions,
        excluded_now=[e for e in exclusions if _aware(e.expires_at) > now],
        cool_down=Detector(db, settings.detection).cool_down_of(customer_id, now),
        may_exclude=user.role in CLOSURE_ROLES,
        error=error,
        shown=shown or {},
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/customers/{customer_id}")
def customer_page(
    customer_id: str,
    request: Request,
    user: Anyone,
    customers: CustomerServiceDep,
    settings: SettingsDep,
    db: DatabaseDep,
) -> Response:
    """Who the customer is, their cases, and whether detection leaves them alone and why."""
    return _customer_page(request, user, customers, settings, db, customer_id)


class ExclusionForm(BaseModel):
    reason: str = Field(default="", max_length=2000)
    until: Day | None = None


@router.post("/customers/{customer_id}/exclusions", dependencies=[CsrfChecked])
def exclude_from_detection(
    customer_id: str,
    request: Request,
    user: Staff,
    customers: CustomerServiceDep,
    settings: SettingsDep,
    db: DatabaseDep,
    form: Annotated[ExclusionForm, Form()],
) -> Response:
    """Keep the daily scan away from the customer until a date, for a reason: the same rules
    as `POST /api/customers/{id}/exclusions`; a refusal comes back to the page, explained."""
    shown = {"reason": form.reason, "until": form.until.isoformat() if form.until else ""}

    def again(status: int, error: str) -> Response:
        return _customer_page(
            request, user, customers, settings, db, customer_id, status, error, shown
        )

    if not form.reason.strip():
        return again(422, "an exclusion needs a reason")
    if form.until is None:
        return again(422, "an exclusion needs a date to end")
    try:
        body = validated(
            schemas.ExclusionIn,
            reason=form.reason.strip(),
            until=datetime.combine(form.until, time(0), UTC),
        )
        customers.exclude(customer_id, body, principal(user))
    except DomainError as exc:
        if isinstance(exc, Forbidden):
            raise  # the error page, and the refusal audited, as for any page
        return again(exc.status_code, exc.message)
    return RedirectResponse(f"/customers/{customer_id}?excluded=1", status_code=303)
