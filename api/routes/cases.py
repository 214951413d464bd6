"""Cases: open, list, read, and the human requests that steer a running case."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api import schemas
from api.deps import (
    AccountManager,
    CaseServiceDep,
    ComplianceDep,
    ComplianceOfficer,
    Reader,
)
from api.openapi_links import (
    CASE_FROM_ANSWER,
    CASE_FROM_LIST,
    HOLD_FROM_ANSWER,
    HOLD_FROM_CASE,
    TASK_FROM_CASE,
    links,
)
from api.paging import Limit, Offset
from closeout.domain import Outcome, Stage

router = APIRouter(prefix="/api/cases", tags=["cases"])


@router.post("", status_code=201, responses=links(201, CASE_FROM_ANSWER))
async def open_case(
    body: schemas.CaseBody, user: AccountManager, cases: CaseServiceDep
) -> schemas.CaseCreated:
    """Open a close-customer case: starts the customer's workflow."""
    return await cases.open_case(body, user)


@router.get("", responses=links(200, CASE_FROM_LIST))
def list_cases(
    user: Reader,
    cases: CaseServiceDep,
    stage: Stage | None = None,
    outcome: Outcome | None = None,
    open: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> schemas.PageOut[schemas.CaseSummary]:
    """Cases, newest first, filtered by stage, outcome or open/closed."""
    return cases.list_cases(stage, outcome, open, limit, offset, user)


@router.get("/{case_id}/certificate")
def get_certificate(
    case_id: str, _user: ComplianceOfficer, compliance: ComplianceDep
) -> schemas.CertificateOut:
    """The deletion certificate: what was deleted, where, when, under which policy, verified how."""
    certificate = compliance.certificate(case_id)
    return schemas.CertificateOut(
        certificate_id=certificate.id,
        case_id=certificate.case_id,
        issued_at=certificate.issued_at,
        body_sha256=certificate.body_sha256,
        signature=certificate.signature,
        authentic=compliance.is_authentic(certificate),
        certificate=certificate.body,
    )


@router.get("/{case_id}/retained-data")
def retained_data(
    case_id: str, user: ComplianceOfficer, compliance: ComplianceDep
) -> dict[str, Any]:
    """A restricted customer's retained records, unsealed: the one export their data allows
    (compliance officers and admins; audited)."""
    return compliance.retained_data(case_id, user)


@router.get("/{case_id}/replies")
def case_replies(case_id: str, user: Reader, cases: CaseServiceDep) -> list[schemas.ReplyOut]:
    """Mail that came back on the case (replies, automatic replies, delivery reports), its
    words as plain text and its attachments listed; each reply's customer_reply task."""
    return cases.case_replies(case_id, user)


@router.get("/{case_id}", responses=links(200, TASK_FROM_CASE, HOLD_FROM_CASE))
def get_case(case_id: str, user: Reader, cases: CaseServiceDep) -> schemas.CaseDetail:
    """One case with its pending tasks, legal holds and audit timeline."""
    return cases.get_case(case_id, user)


@router.post("/{case_id}/customer-response", status_code=202)
async def customer_response(
    case_id: str, body: schemas.CustomerResponseIn, user: AccountManager, cases: CaseServiceDep
) -> schemas.CaseStateOut:
    """Relay the customer's answer: stay, object, confirm the closure, or ask for their data."""
    return await cases.respond(case_id, body, user)


@router.post("/{case_id}/churn-class")
def correct_churn_class(
    case_id: str, body: schemas.ChurnClassIn, user: AccountManager, cases: CaseServiceDep
) -> schemas.CaseSummary:
    """Correct why the customer left (the churn class), with a reason: for the record and the
    figures, the process goes on as it was opened."""
    return cases.correct_churn_class(case_id, body, user)


@router.post("/{case_id}/cancel", status_code=202)
async def cancel(
    case_id: str, body: schemas.ReasonIn, user: AccountManager, cases: CaseServiceDep
) -> schemas.CaseStateOut:
    """Cancel the closure before access is revoked; what was done is compensated."""
    return await cases.cancel(case_id, body, user)


@router.post("/{case_id}/legal-holds", status_code=201, responses=links(201, HOLD_FROM_ANSWER))
async def place_legal_hold(
    case_id: str, body: schemas.LegalHoldIn, user: ComplianceOfficer, cases: CaseServiceDep
) -> schemas.CaseStateOut:
    """Place a legal hold: nothing of the customer is deleted until it is released."""
    return await cases.place_hold(case_id, body, user)


@router.post("/{case_id}/legal-holds/{hold_id}/release", status_code=202)
async def release_legal_hold(
    case_id: str,
    hold_id: str,
    body: schemas.ReasonIn,
    user: ComplianceOfficer,
    cases: CaseServiceDep,
) -> schemas.CaseStateOut:
    """Release a legal hold."""
    return await cases.release_hold(case_id, hold_id, body, user)


@router.post("/{case_id}/retention", status_code=202)
async def change_retention(
    case_id: str, body: schemas.RetentionIn, user: ComplianceOfficer, cases: CaseServiceDep
) -> schemas.CaseStateOut:
    """Move the retention end of an archived customer."""
    return await cases.change_retention(case_id, body, user)


@router.post("/{case_id}/reactivate", status_code=202)
async def reactivate(
    case_id: str, body: schemas.ReasonIn, user: AccountManager, cases: CaseServiceDep
) -> schemas.CaseStateOut:
    """Restore a returning customer from the archive; the case ends as reactivated."""
    return await cases.reactivate(case_id, body, user)
