"""Why customers leave and how well win-back works: aggregates over the read model's cases and
holds, and over the facts kept beside them as they happen (closeout/cases/facts.py: stage
spans, answers, tasks, the retention load), each one grouped query, the same on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
)

from closeout.cases.facts import ANSWERS
from closeout.cases.models import (
    CaseRecord,
    InsightDay,
    InsightFact,
    LegalHoldRecord,
    RetentionLoad,
    opened_month_of,
)
from closeout.db import Database, table_of
from closeout.domain import STAGE_ORDER, Outcome, Stage, TaskKind, Trigger

_CASES = table_of(CaseRecord)
_HOLDS = table_of(LegalHoldRecord)
_FACTS = table_of(InsightFact)
_DAY = table_of(InsightDay)
_LOAD = table_of(RetentionLoad)
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


@dataclass(frozen=True)
class Band:
    """The spans of one band (closeout/cases/facts.py): how many, the shortest, the longest."""

    count: int
    low: float
    high: float


def ranked(bands: list[Band], rank: int) -> float:
    """The `rank`-th shortest span (from 1) of bands in their order: exact where its band holds
    one span or spans of one length, else placed evenly between the band's shortest and
    longest, so off by less than a band's width (10 %)."""
    for band in bands:
        if rank <= band.count:
            if band.count == 1:
                return band.low
            return band.low + (band.high - band.low) * (rank - 1) / (band.count - 1)
        rank -= band.count
    raise ValueError("rank past the last span")


def percentile_hours(bands: list[Band]) -> dict[str, float]:
    """Median (the mean of the two middle spans when even) and 90th percentile (nearest rank)
    of the spans counted in `bands`, in hours."""
    n = sum(b.count for b in bands)
    middle = ranked(bands, (n + 1) // 2)
    median = middle if n % 2 else (middle + ranked(bands, n // 2 + 1)) / 2
    return {
        "median_hours": round(median / 3600, 2),
        "p90_hours": round(ranked(bands, -(-9 * n // 10)) / 3600, 2),
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

    def conditions(self, table: Table = _CASES) -> list[ColumnElement[bool]]:
        """On the cases, or on the facts (which carry their case's columns)."""
        # The months first: the range the insights' index is read over (then the moments).
        found = [
            table.c.opened_month >= opened_month_of(self.since),
            table.c.opened_month <= opened_month_of(self.until),
            table.c.opened_at >= self.since,
            table.c.opened_at < self.until,
        ]
        for name in ("owner", "trigger", "churn_class", "value_tier", "country"):
            value = getattr(self, name)
            if value is not None:
                found.append(table.c[name] == value)
        return found

    def counted_by_day(self) -> tuple[str, str] | None:
        """The days' counts that answer for these cases (closeout/cases/models.py
        `InsightDay`): ("", "") for every case, (column, value) for those of one trigger,
        class, tier, country or owner; None when the period is not whole days (UTC) or more
        than one of those narrows it."""
        if any(at.astimezone(UTC).time() != time(0) for at in (self.since, self.until)):
            return None
        names = ("trigger", "churn_class", "value_tier", "country", "owner")
        narrowed = [(n, getattr(self, n)) for n in names if getattr(self, n) is not None]
        if len(narrowed) > 1:
            return None
        return narrowed[0] if narrowed else ("", "")


@dataclass(frozen=True)
class Source:
    """Where a view reads its facts: the table, which of its rows, how many facts a row
    counts, and a span's shortest and longest."""

    table: Table
    conditions: list[ColumnElement[bool]]
    facts: Any
    low: Any
    high: Any


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

    def _facts(self, f: InsightsFilter) -> Source:
        """Where the facts of the cases in `f` are read: their days' counts when `f` covers
        whole days (UTC) narrowed by one column at most, else the facts one by one."""
        counted = f.counted_by_day()
        if counted is not None:
            d = _DAY.c
            days = [
                d.dimension == counted[0],
                d.value == counted[1],
                d.day >= f.since.astimezone(UTC).date(),
                d.day < f.until.astimezone(UTC).date(),
            ]
            return Source(_DAY, days, d.facts, d.low, d.high)
        t = _FACTS.c
        return Source(_FACTS, f.conditions(_FACTS), literal(1), t.seconds, t.seconds)

    def approval_sla(self, f: InsightsFilter) -> dict[str, int]:
        """The approvals of the cases in `f`: decided on time, decided late, escalated to the
        managers (whenever decided), still open and not yet due."""
        source = self._facts(f)
        t = source.table.c

        def count(condition: ColumnElement[bool]) -> Any:
            return func.coalesce(func.sum(case((condition, source.facts), else_=0)), 0)

        query = select(
            count(and_(~t.escalated, t.decided, ~t.late)),
            count(and_(~t.escalated, t.decided, t.late)),
            count(t.escalated),
            count(and_(~t.escalated, ~t.decided)),
        ).where(t.kind == "task", t.name.in_(_APPROVALS), *source.conditions)
        with self.db.engine.connect() as conn:
            on_time, late, escalated_n, waiting = (int(v) for v in conn.execute(query).one())
        return {"on_time": on_time, "late": late, "escalated": escalated_n, "open": waiting}

    def tasks_per_owner(self, f: InsightsFilter) -> list[dict[str, Any]]:
        """The tasks of the cases in `f` by whom they are with: open, or decided by them."""
        source = self._facts(f)
        t, n = source.table.c, source.facts
        query = (
            select(
                t.who,
                func.sum(case((t.decided, 0), else_=n)).label("open"),
                func.sum(case((t.decided, n), else_=0)).label("decided"),
                func.sum(case((t.escalated, n), else_=0)).label("escalated"),
            )
            .where(t.kind == "task", *source.conditions)
            .group_by(t.who)
            .order_by(t.who)
        )
        with self.db.engine.connect() as conn:
            return [
                {k: (int(v) if k != "who" else v) for k, v in r._mapping.items()}
                for r in conn.execute(query)
            ]

    def _spans(self, f: InsightsFilter, kind: str) -> dict[str, list[Band]]:
        """The spans of one kind of the cases in `f`, per name, as counts per band."""
        source = self._facts(f)
        t = source.table.c
        query = (
            select(
                t.name,
                t.band,
                func.sum(source.facts),
                func.min(source.low),
                func.max(source.high),
            )
            .where(t.kind == kind, *source.conditions)
            .group_by(t.name, t.band)
            .order_by(t.name, t.band)
        )
        found: dict[str, list[Band]] = defaultdict(list)
        with self.db.engine.connect() as conn:
            for name, _band, n, low, high in conn.execute(query):
                found[name].append(Band(int(n), float(low), float(high)))
        return found

    def time_in_stage(self, f: InsightsFilter) -> list[dict[str, Any]]:
        """How long the cases in `f` stayed in each stage they left (median, p90)."""
        spans = self._spans(f, "stage")
        return [
            {"stage": str(s), "cases": sum(b.count for b in spans[s]), **percentile_hours(spans[s])}
            for s in STAGE_ORDER
            if spans.get(s)
        ]

    def answers(self, f: InsightsFilter) -> list[dict[str, Any]]:
        """Which answers the customers of the cases in `f` gave, and how long after their case
        opened (median, p90)."""
        took = self._spans(f, "answer")
        return [
            {"answer": a, "answers": sum(b.count for b in took[a]), **percentile_hours(took[a])}
            for a in ANSWERS.values()
            if took.get(a)
        ]

    def retention_load(self, owner: str | None = None) -> list[dict[str, Any]]:
        """The customers archived now, by data category and the year that category falls due
        for deletion (a case without category clocks counts under "all_categories", by its
        retention end)."""
        load = _LOAD.c
        customers = func.sum(load.customers)
        query = (
            select(load.category, load.year, customers)
            .group_by(load.category, load.year)
            .having(customers > 0)
            .order_by(load.category, load.year)
        )
        if owner is not None:
            query = query.where(load.owner == owner)
        with self.db.engine.connect() as conn:
            return [
                {"category": category, "year": int(year), "customers": int(n)}
                for category, year, n in conn.execute(query)
            ]
