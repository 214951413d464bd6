"""The insights page and its CSV files: why customers leave and how well win-back works."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import DatabaseDep
from api.insights_report import SECTIONS, QueryDep, report, report_filter, section_csv
from api.insights_report import Query as ReportQuery
from api.web.render import render
from api.web.session import Anyone
from closeout.domain import ChurnClass, Trigger, ValueTier
from closeout.insights import Dimension

router = APIRouter(tags=["web"], include_in_schema=False)
BAR = 240  # the longest bar, in pixels


def _bars(values: dict[str, int]) -> dict[str, int]:
    """Each value's bar length, the largest drawn longest (numbers stand beside each bar)."""
    top = max(values.values(), default=0)
    return {k: round(BAR * v / top) if top else 0 for k, v in values.items()}


def _data(user: Anyone, db: DatabaseDep, q: ReportQuery) -> tuple[dict[str, Any], dict[str, str]]:
    f, dimension = report_filter(q, user.role, user.email, date.today())
    data = report(db, f, dimension, datetime.now(UTC))
    shown = {k: v for k, v in {**data["filter"], "by": str(dimension)}.items() if v}
    return data, shown


@router.get("/insights")
def insights_page(request: Request, user: Anyone, db: DatabaseDep, q: QueryDep) -> Response:
    """Why customers leave and how well win-back works, for a period and a slice of cases."""
    data, shown = _data(user, db, q)
    by_trigger: dict[str, int] = {}
    for row in data["opened"]:
        by_trigger[row["trigger"]] = by_trigger.get(row["trigger"], 0) + row["cases"]
    return render(
        request,
        user,
        "insights",
        data=data,
        shown=shown,
        query=urlencode(shown),
        opened_by_trigger=by_trigger,
        trigger_bars=_bars(by_trigger),
        funnel_bars=_bars(data["funnel"]["counts"]),
        sections=SECTIONS,
        triggers=list(Trigger),
        churn_classes=list(ChurnClass),
        tiers=list(ValueTier),
        dimensions=list(Dimension),
    )


@router.get("/insights.csv")
def insights_csv(
    user: Anyone,
    db: DatabaseDep,
    q: QueryDep,
    section: Annotated[str, Query(max_length=20)] = "funnel",
) -> Response:
    """One section of the report as CSV, for a spreadsheet."""
    data, _shown = _data(user, db, q)
    return Response(
        section_csv(data, section),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="insights-{section}.csv"'},
    )
