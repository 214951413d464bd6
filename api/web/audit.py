"""The audit trail for compliance: search, CSV export, and a check of the hash chain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.calendar_bounds import Day
from api.deps import AdaptersDep, DatabaseDep, SettingsDep
from api.paging import PageNumber
from api.web.render import render
from api.web.session import Compliance, CsrfChecked
from closeout.audit.chain import ChainReport, verify
from closeout.audit.search import AuditFilter, AuditSearch
from closeout.contracts import AuditEntry
from closeout.users.accounts import User

router = APIRouter(tags=["web"], include_in_schema=False)
PER_PAGE = 100


CaseQ = Annotated[str | None, Query(max_length=36)]
ActorQ = Annotated[str | None, Query(max_length=200)]
ActionQ = Annotated[str | None, Query(max_length=80)]


def audit_filter(
    case_id: CaseQ = None,
    actor: ActorQ = None,
    action: ActionQ = None,
    since: Day | None = None,
    until: Day | None = None,
) -> AuditFilter:
    """The search's filters from the query string; dates are whole UTC days."""
    return AuditFilter(
        case_id=case_id or None,
        actor=actor or None,
        action=action or None,
        since=datetime.combine(since, time(0), UTC) if since else None,
        until=datetime.combine(until, time(0), UTC) + timedelta(days=1) if until else None,
    )


Filter = Annotated[AuditFilter, Depends(audit_filter)]


def _page(
    request: Request,
    user: User,
    settings: SettingsDep,
    db: DatabaseDep,
    where: AuditFilter,
    page: int,
    chain: ChainReport | None = None,
) -> Response:
    search = AuditSearch(db, request.app.state.adapters.cases.sealed.events_opener)
    rows, total = search.page(where, PER_PAGE, (page - 1) * PER_PAGE)
    return render(
        request,
        user,
        "audit",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        actions=search.actions(),
        query=request.url.query,
        filters=request.query_params,
        chain=chain,
    )


@router.get("/compliance/audit")
def audit_page(
    request: Request,
    user: Compliance,
    settings: SettingsDep,
    db: DatabaseDep,
    where: Filter,
    page: PageNumber = 1,
) -> Response:
    """Audit events, newest first, by case, actor, action and date."""
    return _page(request, user, settings, db, where, page)


@router.get("/compliance/audit.csv")
def audit_csv(user: Compliance, adapters: AdaptersDep, where: Filter) -> Response:
    """The matching events in chain order, as CSV; the export itself is audited."""
    now = datetime.now(UTC)
    db, cases = adapters.db, adapters.cases
    cases.append_audit(
        None,
        AuditEntry(str(uuid.uuid4()), user.email, "audit_exported", now, None, {
            "case_id": where.case_id, "action": where.action,
            "since_at": where.since.isoformat() if where.since else None,
            "until_at": where.until.isoformat() if where.until else None,
        }),
    )  # fmt: skip
    name = f"closeout-audit-{now:%Y%m%dT%H%M%SZ}.csv"
    return StreamingResponse(
        AuditSearch(db, cases.sealed.events_opener).csv_lines(where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/compliance/audit/verify", dependencies=[CsrfChecked])
def audit_verify(
    request: Request, user: Compliance, settings: SettingsDep, db: DatabaseDep
) -> Response:
    """Walk the whole hash chain now (what `closeout audit verify` does) and show the result."""
    with db.session() as session:
        report = verify(session, request.app.state.adapters.cases.sealed.events_opener())
    return _page(request, user, settings, db, AuditFilter(), 1, chain=report)
