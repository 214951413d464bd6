"""Why customers leave and how well win-back works, as JSON (the page shows the same)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import DatabaseDep, Reader
from api.insights_report import Query as ReportQuery
from api.insights_report import report, report_filter

router = APIRouter(prefix="/api/insights", tags=["insights"])
Text = Annotated[str | None, Query(max_length=200)]


@router.get("")
def insights(
    user: Reader,
    db: DatabaseDep,
    since: date | None = None,
    until: date | None = None,
    owner: Text = None,
    trigger: Text = None,
    churn_class: Text = None,
    value_tier: Text = None,
    by: Text = None,
) -> dict[str, Any]:
    """Cases opened by month, trigger and churn class; the outcome funnel with rates; the
    win-back rate by trigger, churn class, value tier or owner (`by`); deletions by month;
    legal holds standing by age. Cases opened in [since, until) (the last year by default);
    an account manager sees their own customers' only."""
    q = ReportQuery(since, until, owner, trigger, churn_class, value_tier, by)
    f, dimension = report_filter(q, user.role, user.name, date.today())
    return report(db, f, dimension, datetime.now(UTC))
