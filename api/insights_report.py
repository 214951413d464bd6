"""The insights report as the JSON API, the page and its CSV files give it: the filters read
from a query, who may see whose customers, every section in one report."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends
from fastapi import Query as FastQuery

from api.calendar_bounds import Day
from api.errors import Forbidden, Invalid
from closeout.access import sees_every_customer
from closeout.db import Database
from closeout.domain import ChurnClass, Trigger, ValueTier
from closeout.insights import Dimension, Insights, InsightsFilter

# The longest period one report covers; the default is the last year.
MOST = timedelta(days=366 * 5)
SECTIONS = (
    "opened",
    "funnel",
    "win_back",
    "answers",
    "time_in_stage",
    "approval_sla",
    "tasks",
    "deletions",
    "retention_load",
    "holds",
)


@dataclass(frozen=True)
class Query:
    since: date | None = None
    until: date | None = None
    owner: str | None = None
    trigger: str | None = None
    churn_class: str | None = None
    value_tier: str | None = None
    by: str | None = None
    country: str | None = None


Text = Annotated[str | None, FastQuery(max_length=200)]


def query_of(
    since: Day | None = None,
    until: Day | None = None,
    owner: Text = None,
    trigger: Text = None,
    churn_class: Text = None,
    value_tier: Text = None,
    by: Text = None,
    country: Text = None,
) -> Query:
    """The report's filters from a request's query string (a FastAPI dependency)."""
    return Query(since, until, owner, trigger, churn_class, value_tier, by, country)


QueryDep = Annotated[Query, Depends(query_of)]


def _known(kind: type[StrEnum], value: str | None, name: str) -> str | None:
    if not value:
        return None
    try:
        return str(kind(value))
    except ValueError:
        known = ", ".join(str(k) for k in kind)
        raise Invalid(f"unknown {name} {value!r} (known: {known})") from None


def _country(value: str | None) -> str | None:
    """An ISO 3166 alpha-2 code, as the CRM gives it ("de" is "DE")."""
    if not value:
        return None
    code = value.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise Invalid(f"country must be a two-letter ISO 3166 code (e.g. DE, CN), not {value!r}")
    return code


def report_filter(q: Query, role: str, name: str, today: date) -> tuple[InsightsFilter, Dimension]:
    """The filter a query asks for, as this person may see it (an account manager sees their
    own customers' cases only); a clear 4xx for anything else."""
    until = q.until or today + timedelta(days=1)
    since = q.since or until - timedelta(days=365)
    if since >= until:
        raise Invalid("since must come before until")
    if until - since > MOST:
        raise Invalid("a report covers five years at most")
    owner = q.owner or None
    if not sees_every_customer(role):
        if owner not in (None, name):
            raise Forbidden(f"{name} sees their own customers' figures, not {owner}'s")
        owner = name
    f = InsightsFilter(
        datetime.combine(since, time(0), UTC),
        datetime.combine(until, time(0), UTC),
        owner=owner,
        trigger=_known(Trigger, q.trigger, "trigger"),
        churn_class=_known(ChurnClass, q.churn_class, "churn class"),
        value_tier=_known(ValueTier, q.value_tier, "value tier"),
        country=_country(q.country),
    )
    by = Dimension(_known(Dimension, q.by, "breakdown") or Dimension.TRIGGER)
    return f, by


def report(db: Database, f: InsightsFilter, by: Dimension, now: datetime) -> dict[str, Any]:
    """Every section of the report, as JSON values."""
    insights = Insights(db)
    funnel = insights.funnel(f)
    return {
        "filter": {
            "since": f.since.date().isoformat(),
            "until": f.until.date().isoformat(),
            "owner": f.owner,
            "trigger": f.trigger,
            "churn_class": f.churn_class,
            "value_tier": f.value_tier,
            "country": f.country,
        },
        "opened": insights.opened(f),
        "funnel": {"counts": asdict(funnel), "rates": funnel.rates()},
        "win_back": {"by": str(by), "rows": insights.win_back(f, by)},
        "answers": insights.answers(f),
        "time_in_stage": insights.time_in_stage(f),
        "approval_sla": insights.approval_sla(f),
        "tasks": insights.tasks_per_owner(f),
        "deletions": insights.deletions(f),
        "retention_load": insights.retention_load(f.owner),
        "holds": insights.holds(now, f.owner),
    }


def section_csv(data: dict[str, Any], section: str) -> str:
    """One section of the report as CSV, a header row first."""
    if section not in SECTIONS:
        raise Invalid(f"unknown section {section!r} (known: {', '.join(SECTIONS)})")
    if section == "funnel":
        counts, rates = data["funnel"]["counts"], data["funnel"]["rates"]
        rows = [{"step": k, "cases": v, "rate": rates.get(k, 1.0)} for k, v in counts.items()]
    elif section == "win_back":
        rows = data["win_back"]["rows"]
    elif section == "approval_sla":
        rows = [{"approvals": k, "tasks": v} for k, v in data["approval_sla"].items()]
    else:
        rows = data[section]
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
