"""Why customers leave and how well win-back works: aggregates over the read model's cases and
holds, each one grouped query, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal_column, or_, select

from closeout.audit.models import AuditEvent
from closeout.cases.models import CaseRecord, LegalHoldRecord, TaskRecord, opened_month_of
from closeout.db import Database, table_of
from closeout.domain import STAGE_ORDER, CustomerResponse, Outcome, Stage, TaskKind, Trigger

_CASES = table_of(CaseRecord)
_HOLDS = table_of(LegalHoldRecord)
_TASKS = table_of(TaskRecord)
_EVENTS = table_of(AuditEvent)
_ANSWERS = {f"customer_{r}": str(r) for r in CustomerResponse}
_APPROVALS = [str(TaskKind.APPROVAL), str(TaskKind.SECOND_APPROVAL)]
# Reached the archive: in retention or deletion now, or ended after it.
_ARCHIVED = or_(
    _CASES.c.outcome.in_([str(Outcome.DELETED), str(Outcome.REACTIVATED)]),
    and_(
        _CASES.c.outcome.is_(None),
        _CASES.c.stage.in_([str(Stage.RETENTION), str(Stage.DELETION)]),
    ),
)
# A case that is a closure, not the review of a duplicate or invalid record.
_CLOSURE = _CASES.c.trigger != str(Trigger.DATA_QUALITY)
HOLD_AGES = ((30, "under 30 days"), (90, "30 to 90 days"), (365, "90 days to a year"))


def _hours(seconds: list[float]) -> dict[str, float]:
    """Median and 90th percentile (nearest rank) of durations, in hours."""
    ordered = sorted(seconds)
    p90 = ordered[max(0, -(-9 * len(ordered) // 10) - 1)]
    return {
        "median_hours": round(statistics.median(ordered) / 3600, 2),
        "p90_hours": round(p90 / 3600, 2),
    }


class Dimension(StrEnum):
    """What the win-back rate is broken down by."""

    TRIGGER = "trigger"
    CHURN_CLASS = "churn_class"
    VALUE_TIER = "value_tier"
    OWNER = "owner"


@dataclass(frozen=True)
class InsightsFilter:
    """Cases opened in [since, until), narrowed by owner, trigger, churn class, value tier and
    the customer's country."""

    since: datetime
    until: datetime
    owner: str | None = None
    trigger: str | None = None
    churn_class: str | None = None
    value_tier: str | None = None
    country: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        # The months first: the range the insights' index is read over (then the moments).
        found = [
            _CASES.c.opened_month >= opened_month_of(self.since),
            _CASES.c.opened_month <= opened_month_of(self.until),
            _CASES.c.opened_at >= self.since,
            _CASES.c.opened_at < self.until,
        ]
        for name in ("owner", "trigger", "churn_class", "value_tier", "country"):
            value = getattr(self, name)
            if value is not None:
                found.append(_CASES.c[name] == value)
        return found


@dataclass(frozen=True)
class Funnel:
    opened: int
    won_back: int
    rejected: int
    cancelled: int
    archived: int
    deleted: int
    reactivated: int
    # Data-quality reviews: records merged into another, or invalidated.
    merged: int = 0
    invalidated: int = 0

    def rates(self) -> dict[str, float]:
        """Each step as a share of the cases opened (0 when none were)."""
        counts = {k: v for k, v in self.__dict__.items() if k != "opened"}
        return {k: round(v / self.opened, 4) if self.opened else 0.0 for k, v in counts.items()}


class Insights:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _month(self, column: Any) -> Any:
        """The UTC month of a moment, as `opened_month_of` says it."""
        if self.db.engine.dialect.name == "postgresql":
            return func.to_char(func.timezone("UTC", column), "YYYY-MM")
        return func.substr(column, 1, 7)  # SQLite holds UTC moments as ISO text

    def opened(self, f: InsightsFilter) -> list[dict[str, Any]]:
        """Cases opened per month, trigger and churn class."""
        month = _CASES.c.opened_month.label("month")
        query = (
            select(month, _CASES.c.trigger, _CASES.c.churn_class, func.count().label("cases"))
            .where(*f.conditions())
            .group_by(month, _CASES.c.trigger, _CASES.c.churn_class)
            .order_by(month, _CASES.c.trigger, _CASES.c.churn_class)
        )
        with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def funnel(self, f: InsightsFilter) -> Funnel:
        """Opened, then how the cases ended or how far they went."""

        def count(condition: ColumnElement[bool]) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        def ended(outcome: Outcome) -> Any:
            return count(_CASES.c.outcome == str(outcome))

        query = select(
            func.count(),
            ended(Outcome.RETAINED),
            ended(Outcome.REJECTED),
            ended(Outcome.CANCELLED),
            count(_ARCHIVED),
            ended(Outcome.DELETED),
            ended(Outcome.REACTIVATED),
            ended(Outcome.MERGED),
            ended(Outcome.INVALIDATED),
        ).where(*f.conditions())
        with self.db.engine.connect() as conn:
            row = conn.execute(query).one()
        return Funnel(*(int(v) for v in row))

    def win_back(self, f: InsightsFilter, by: Dimension) -> list[dict[str, Any]]:
        """Of the closures that ended, the share won back, per value of `by` (a data-quality
        review is no closure: it has no win-back)."""
        # Grouped by the value, not by the column: an index on the column alone (the owner's)
        # would otherwise be walked in its order, every row then fetched from the table; the
        # insights' index holds all a view needs, and its rows are sorted instead.
        key = _CASES.c[str(by)].op("||")(literal_column("''"))
        won = func.sum(case((_CASES.c.outcome == str(Outcome.RETAINED), 1), else_=0))
        query = (
            select(key.label("key"), func.count().label("ended"), won.label("won_back"))
            .where(*f.conditions(), _CASES.c.outcome.is_not(None), _CLOSURE)
            .group_by(key)
            .order_by(key)
        )
        with self.db.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for r in rows:
            r["won_back"] = int(r["won_back"])
            r["rate"] = round(r["won_back"] / r["ended"], 4) if r["ended"] else 0.0
        return rows

    def deletions(self, f: InsightsFilter) -> list[dict[str, Any]]:
        """Customers deleted per month (when their case closed), of the cases in `f`."""
        month = self._month(_CASES.c.closed_at).label("month")
        query = (
            select(month, func.count().label("deleted"))
            .where(*f.conditions(), _CASES.c.outcome == str(Outcome.DELETED))
            .group_by(month)
            .order_by(month)
        )
        with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def holds(self, now: datetime, owner: str | None = None) -> list[dict[str, Any]]:
        """Legal holds standing now, by how long they have stood."""
        placed = _HOLDS.c.placed_at
        buckets = [(placed > now - timedelta(days=days), label) for days, label in HOLD_AGES]
        age = case(*buckets, else_="over a year").label("age")
        query = (
            select(age, func.count().label("holds"))
            .select_from(_HOLDS.join(_CASES, _CASES.c.id == _HOLDS.c.case_id))
            .where(_HOLDS.c.released_at.is_(None))
            .group_by(age)
        )
        if owner is not None:
            query = query.where(_CASES.c.owner == owner)
        with self.db.engine.connect() as conn:
            counts = {r.age: int(r.holds) for r in conn.execute(query)}
        order = [label for _days, label in HOLD_AGES] + ["over a year"]
        return [{"age": label, "holds": counts.get(label, 0)} for label in order]

    def approval_sla(self, f: InsightsFilter) -> dict[str, int]:
        """The approvals of the cases in `f`: decided on time, decided late, escalated to the
        managers (whenever decided), still open and not yet due."""
        t = _TASKS.c
        escalated = t.escalated_at.is_not(None)
        decided = t.decided_at.is_not(None)

        def count(condition: ColumnElement[bool]) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        query = (
            select(
                count(and_(~escalated, decided, or_(t.due_at.is_(None), t.decided_at <= t.due_at))),
                count(and_(~escalated, decided, t.decided_at > t.due_at)),
                count(escalated),
                count(and_(~escalated, ~decided)),
            )
            .select_from(_TASKS.join(_CASES, _CASES.c.id == t.case_id))
            .where(*f.conditions(), t.kind.in_(_APPROVALS))
        )
        with self.db.engine.connect() as conn:
            on_time, late, escalated_n, waiting = (int(v) for v in conn.execute(query).one())
        return {"on_time": on_time, "late": late, "escalated": escalated_n, "open": waiting}

    def tasks_per_owner(self, f: InsightsFilter) -> list[dict[str, Any]]:
        """The tasks of the cases in `f` by whom they are with: open, or decided by them."""
        t = _TASKS.c
        who = func.coalesce(t.decided_by, t.assignee).label("who")
        query = (
            select(
                who,
                func.sum(case((t.decided_at.is_(None), 1), else_=0)).label("open"),
                func.sum(case((t.decided_at.is_not(None), 1), else_=0)).label("decided"),
                func.sum(case((t.escalated_at.is_not(None), 1), else_=0)).label("escalated"),
            )
            .select_from(_TASKS.join(_CASES, _CASES.c.id == t.case_id))
            .where(*f.conditions())
            .group_by(who)
            .order_by(who)
        )
        with self.db.engine.connect() as conn:
            return [
                {k: (int(v) if k != "who" else v) for k, v in r._mapping.items()}
                for r in conn.execute(query)
            ]

    def time_in_stage(self, f: InsightsFilter) -> list[dict[str, Any]]:
        """How long the cases in `f` stayed in each stage they left (median, p90), from the
        audit trail's stage entries and closings."""
        e = _EVENTS.c
        query = (
            select(e.case_id, e.action, e.at, e.details)
            .select_from(_EVENTS.join(_CASES, _CASES.c.id == e.case_id))
            .where(*f.conditions(), e.action.in_(["stage_entered", "case_closed"]))
            .order_by(e.case_id, e.seq)
        )
        spans: dict[str, list[float]] = defaultdict(list)
        current: tuple[str | None, str | None, datetime | None] = (None, None, None)
        with self.db.engine.connect() as conn:
            for case_id, action, at, details in conn.execute(query):
                was_case, was_stage, since = current
                if was_case == case_id and was_stage is not None and since is not None:
                    spans[was_stage].append((at - since).total_seconds())
                stage = (details or {}).get("stage") if action == "stage_entered" else None
                current = (case_id, stage, at)
        return [
            {"stage": str(s), "cases": len(spans[str(s)]), **_hours(spans[str(s)])}
            for s in STAGE_ORDER
            if spans.get(str(s))
        ]

    def answers(self, f: InsightsFilter) -> list[dict[str, Any]]:
        """Which answers the customers of the cases in `f` gave, and how long after their case
        opened (median, p90)."""
        e = _EVENTS.c
        query = (
            select(e.action, e.at, _CASES.c.opened_at)
            .select_from(_EVENTS.join(_CASES, _CASES.c.id == e.case_id))
            .where(*f.conditions(), e.action.in_(list(_ANSWERS)))
        )
        took: dict[str, list[float]] = defaultdict(list)
        with self.db.engine.connect() as conn:
            for action, at, opened in conn.execute(query):
                took[_ANSWERS[action]].append((at - opened).total_seconds())
        return [
            {"answer": answer, "answers": len(took[answer]), **_hours(took[answer])}
            for answer in _ANSWERS.values()
            if took.get(answer)
        ]

    def retention_load(self, owner: str | None = None) -> list[dict[str, Any]]:
        """The customers archived now, by data category and the year that category falls due
        for deletion (a case without category clocks counts under "all_categories", by its
        retention end)."""
        query = select(_CASES.c.category_clocks, _CASES.c.retention_end).where(
            _CASES.c.outcome.is_(None),
            _CASES.c.stage.in_([str(Stage.RETENTION), str(Stage.DELETION)]),
        )
        if owner is not None:
            query = query.where(_CASES.c.owner == owner)
        load: dict[tuple[str, int], int] = defaultdict(int)
        with self.db.engine.connect() as conn:
            for clocks, retention_end in conn.execute(query):
                if clocks:
                    for clock in clocks:
                        if clock.get("deleted_at") is None:
                            year = datetime.fromisoformat(clock["ends_at"]).year
                            load[(clock["category"], year)] += 1
                elif retention_end is not None:
                    load[("all_categories", retention_end.year)] += 1
        return [
            {"category": category, "year": year, "customers": n}
            for (category, year), n in sorted(load.items())
        ]
