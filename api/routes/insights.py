"""Why customers leave and how well win-back works, as JSON (the page shows the same)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter

from api.deps import DatabaseDep, Reader
from api.insights_report import QueryDep, report, report_filter

router = APIRouter(prefix="/api/insights", tags=["insights"])


@router.get("")
def insights(user: Reader, db: DatabaseDep, q: QueryDep) -> dict[str, Any]:
    """Cases opened by month, trigger and churn class; the outcome funnel with rates; the
    win-back rate by trigger, churn class, value tier or owner (`by`); the customers' answers
    and how long they took; time in each stage; the approval SLA and tasks by whom; deletions
    by month; archived customers by category and year of deletion; legal holds standing by
    age. Cases opened in [since, until) (the last year by default); an account manager sees
    their own customers' only."""
    f, dimension = report_filter(q, user.role, user.name, date.today())
    return report(db, f, dimension, datetime.now(UTC))
