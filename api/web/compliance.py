"""Compliance pages: retention clocks, legal holds and deletion certificates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.calendar_bounds import Moment
from api.deps import BoardDep, ComplianceDep, RequestServiceDep
from api.paging import PageNumber
from api.web.render import render
from api.web.session import Compliance

router = APIRouter(tags=["web"], include_in_schema=False)
WINDOWS = (30, 90, 365)
PER_PAGE = 50
# Each retention row draws every category's countdown: 25 rows make a page as long as others.
CLOCKS_PER_PAGE = 25


@router.get("/compliance")
def retention_clocks(
    request: Request,
    user: Compliance,
    board: BoardDep,
    compliance: ComplianceDep,
    within: Annotated[int | None, Query(ge=1, le=36_500)] = None,
    after: Moment | None = None,
    after_id: Annotated[str | None, Query(max_length=36)] = None,
) -> Response:
    """Archived cases with each category's countdown, holds highlighted, filtered by when
    the next deletion falls due, a page at a time (each page starts after the last case of
    the one before); a chart of the deletions due in the next 90 days."""
    start = (after, after_id) if after is not None and after_id is not None else None
    retention = compliance.retention_board(within, datetime.now(UTC), start, CLOCKS_PER_PAGE)
    return render(
        request,
        user,
        "compliance",
        board=retention,
        names=board.customer_names({r.case.customer_id for r in retention.rows}),
        within=within,
        windows=WINDOWS,
        paged=start is not None,
    )


@router.get("/compliance/certificates")
def certificates(
    request: Request,
    user: Compliance,
    compliance: ComplianceDep,
    page: PageNumber = 1,
) -> Response:
    """Every deletion certificate issued, newest first."""
    rows, total = compliance.certificate_page(page, PER_PAGE)
    return render(
        request,
        user,
        "certificates",
        rows=rows,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
    )


@router.get("/compliance/certificates/{case_id}")
def certificate(
    request: Request, case_id: str, user: Compliance, compliance: ComplianceDep
) -> Response:
    """One certificate, laid out to be printed (or saved as PDF by the browser)."""
    found = compliance.certificate(case_id)
    return render(
        request,
        user,
        "certificate",
        certificate=found,
        body=found.body,
        authentic=compliance.is_authentic(found),
    )


@router.get("/compliance/certificates/{case_id}/download")
def download_certificate(case_id: str, _user: Compliance, compliance: ComplianceDep) -> Response:
    """The signed certificate as a JSON file."""
    found = compliance.certificate(case_id)
    return JSONResponse(
        {
            "certificate": found.body,
            "body_sha256": found.body_sha256,
            "signature": found.signature,
        },
        headers={
            "Content-Disposition": f'attachment; filename="deletion-certificate-{found.id}.json"'
        },
    )


@router.get("/compliance/requests")
def customer_requests(
    request: Request, user: Compliance, board: BoardDep, requests: RequestServiceDep
) -> Response:
    """Customers' own requests to be deleted not yet answered, the overdue first, then by
    days left."""
    rows = requests.open_requests(datetime.now(UTC))
    return render(
        request,
        user,
        "requests",
        rows=rows,
        names=board.customer_names({r.case.customer_id for r in rows}),
    )
