"""Customers' own requests to be deleted: the open ones by days left, and an extension."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api import schemas
from api.deps import ComplianceOfficer, Reader, RequestServiceDep

router = APIRouter(tags=["requests"])


@router.get("/api/requests")
def open_requests(
    _user: ComplianceOfficer, requests: RequestServiceDep
) -> list[schemas.OpenRequestOut]:
    """Customers' own requests not yet answered, overdue first, then by days left."""
    return [
        schemas.OpenRequestOut(
            case_id=r.case.id,
            customer_id=r.case.customer_id,
            stage=r.case.stage,
            opened_at=r.case.opened_at,
            due_at=r.due_at,
            days_left=r.days_left,
            overdue=r.overdue,
        )
        for r in requests.open_requests(datetime.now(UTC))
    ]


@router.post("/api/cases/{case_id}/request-extension", status_code=202)
async def extend_request(
    case_id: str, body: schemas.RequestExtensionIn, user: Reader, requests: RequestServiceDep
) -> schemas.CaseStateOut:
    """More time to answer a customer's own request (at most the law's longest in all), with
    the reason the customer is told by mail; the owner, a supervisor or compliance."""
    return await requests.extend(case_id, body, user)
