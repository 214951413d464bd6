"""Compliance pages: every archived customer's retention clock and legal holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import BoardDep
from api.web.render import render
from api.web.session import Compliance

router = APIRouter(tags=["web"], include_in_schema=False)
WINDOWS = (30, 90, 365)


@router.get("/compliance")
def retention_clocks(
    request: Request,
    user: Compliance,
    board: BoardDep,
    within: Annotated[int | None, Query(ge=1, le=36_500)] = None,
) -> Response:
    """Archived cases by retention end, holds highlighted, filtered by a due window."""
    now = datetime.now(UTC)
    cases = board.repo.retention_clocks(now + timedelta(days=within) if within else None)
    holds = board.repo.active_holds([c.id for c in cases])
    return render(
        request,
        user,
        "compliance",
        rows=[
            (c, holds.get(c.id, []), (c.retention_end - now).days if c.retention_end else None)
            for c in cases
        ],
        names=board.customer_names({c.customer_id for c in cases}),
        within=within,
        windows=WINDOWS,
    )
