"""What the insights count beside the cases, written in the same transaction as the change that
makes it true: the span of a stage a case left, a customer's answer, a task and how it went, and
the retention load (customers archived now, by category and year of deletion).

Reading these from the audit trail and the tasks costs a join of every case with its events on
every look, which at a million cases takes seconds; kept as facts, each view reads one index
(closeout/insights.py). Their writes follow an audit append, which holds the chain head: they
are serialised, and an append that finds its event already written (a retry) writes no fact.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, select, text, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from closeout.cases.models import (
    FACT_DIMENSIONS,
    CaseRecord,
    InsightDay,
    InsightFact,
    RetentionLoad,
)
from closeout.db import table_of
from closeout.domain import CustomerResponse, Stage

_CASES = table_of(CaseRecord)
_FACTS = table_of(InsightFact)
_LOAD = table_of(RetentionLoad)
_DAY = table_of(InsightDay)
DAY_KEY = (
    "dimension",
    "value",
    "kind",
    "day",
    "name",
    "band",
    "who",
    "decided",
    "escalated",
    "late",
)
# What a day's facts are also counted by: a report narrowed by one of these reads its counts.
DAY_DIMENSIONS = ("trigger", "churn_class", "value_tier", "country", "owner")
ANSWERS = {f"customer_{r}": str(r) for r in CustomerResponse}
# A span's band: its length in seconds on a scale of steps of 10 %, so the percentiles are
# read from a count per band (closeout/insights.py) instead of from every span.
BAND_RATIO = 1.1
ALL_CATEGORIES = "all_categories"

_CASE_DIMENSIONS = select(*(_CASES.c[d] for d in FACT_DIMENSIONS)).where(
    _CASES.c.id == bindparam("key")
)
_ADD_FACT = insert(_FACTS)
_TASK_FACT = update(_FACTS).where(_FACTS.c.kind == "task", _FACTS.c.ref == bindparam("key"))
_TASK_STATE = select(_FACTS).where(_FACTS.c.kind == "task", _FACTS.c.ref == bindparam("key"))
_DAY_WHERE = [_DAY.c[k] == bindparam(f"key_{k}") for k in DAY_KEY]
_DAY_ROW = select(_DAY.c.facts, _DAY.c.low, _DAY.c.high).where(*_DAY_WHERE)
_DAY_SET = update(_DAY).where(*_DAY_WHERE)
_DAY_GONE = sa_delete(_DAY).where(*_DAY_WHERE)
_DAY_EMPTIED = sa_delete(_DAY).where(*_DAY_WHERE, _DAY.c.facts <= 0)


def _day_add(insert_of: Any) -> Any:
    """A fact counted in by one statement per day row, made or added to (a case change counts
    each of its facts six times: a read and a write each cost twice the statements)."""
    statement = insert_of(_DAY)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=list(DAY_KEY),
        set_={
            "facts": _DAY.c.facts + new.facts,
            "low": case((new.low < _DAY.c.low, new.low), else_=func.coalesce(_DAY.c.low, new.low)),
            "high": case(
                (new.high > _DAY.c.high, new.high), else_=func.coalesce(_DAY.c.high, new.high)
            ),
        },
    )


_DAY_ADD = {"sqlite": _day_add(sqlite_insert), "postgresql": _day_add(postgresql_insert)}
_LOAD_SHIFT = (
    update(_LOAD)
    .where(
        _LOAD.c.owner == bindparam("key_owner"),
        _LOAD.c.category == bindparam("key_category"),
        _LOAD.c.year == bindparam("key_year"),
    )
    .values(customers=_LOAD.c.customers + bindparam("by"))
)
_LOAD_EMPTIED = sa_delete(_LOAD).where(
    _LOAD.c.owner == bindparam("key_owner"),
    _LOAD.c.category == bindparam("key_category"),
    _LOAD.c.year == bindparam("key_year"),
    _LOAD.c.customers <= 0,
)


def band_of(seconds: float) -> int:
    """The band of a span: n where BAND_RATIO**n <= seconds < BAND_RATIO**(n+1) (0 under 1.1 s)."""
    if seconds < BAND_RATIO:
        return 0
    return math.floor(math.log(seconds) / math.log(BAND_RATIO))


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def day_keys(
    fact: Mapping[str, Any], dimensions: Iterable[str] = ("", *DAY_DIMENSIONS)
) -> list[dict[str, Any]]:
    """Where a fact is counted among its day's (closeout/cases/models.py `InsightDay`): with
    all of them, and with those of its case's trigger, class, tier, country and owner."""
    return [
        {**day_key(fact), "dimension": d, "value": (fact[d] or "") if d else ""} for d in dimensions
    ]


def day_key(fact: Mapping[str, Any]) -> dict[str, Any]:
    """A fact's day, kind, name, band and state, as its day's counts group them."""
    band = fact["band"]
    return {
        "dimension": "",
        "value": "",
        "day": _utc(fact["opened_at"]).astimezone(UTC).date(),
        "kind": fact["kind"],
        "name": fact["name"],
        "band": -1 if band is None else band,
        "who": fact["who"] or "",
        "decided": bool(fact["decided"]),
        "escalated": bool(fact["escalated"]),
        "late": bool(fact["late"]),
    }


def count_in_day(
    connection: Connection,
    fact: Mapping[str, Any],
    by: int,
    dimensions: Iterable[str] = ("", *DAY_DIMENSIONS),
) -> None:
    """Count a fact among its day's (`by` 1), or no more (-1), in each of `dimensions`."""
    add = _DAY_ADD.get(connection.dialect.name)
    if add is not None:
        keys = day_keys(fact, dimensions)
        # A fact no longer counted leaves its day's bounds as they were (they cannot shrink
        # without reading every fact), and a row it empties goes.
        seconds = fact["seconds"] if by > 0 else None
        connection.execute(add, [{**k, "facts": by, "low": seconds, "high": seconds} for k in keys])
        if by < 0:
            connection.execute(_DAY_EMPTIED, [{f"key_{n}": v for n, v in k.items()} for k in keys])
        return
    for key in day_keys(fact, dimensions):
        _count_one(connection, key, fact["seconds"], by)


def _recount_sql(dialect: str, dimension: str) -> str:
    day = (
        "CAST(opened_at AT TIME ZONE 'UTC' AS DATE)"
        if dialect == "postgresql"
        else "date(opened_at)"  # SQLite holds UTC moments as text
    )
    value = f"COALESCE({dimension}, '')" if dimension else "''"
    state = f"kind, {day}, name, COALESCE(band, -1), COALESCE(who, ''), decided, escalated, late"
    grouped = f"{value}, {state}" if dimension else state  # (PostgreSQL groups by no constant)
    # Only this module's constant column names are put in: no value from outside.
    return (
        "INSERT INTO insight_day (dimension, value, kind, day, name, band, who, decided, "  # nosec B608
        f"escalated, late, facts, low, high) SELECT '{dimension}', {value}, {state}, COUNT(*), "
        f"MIN(seconds), MAX(seconds) FROM insight_fact GROUP BY {grouped}"
    )


def recount_days(connection: Connection) -> None:
    """Count every fact among its day's afresh (after facts were written around this module,
    as the benchmark writes them)."""
    connection.execute(sa_delete(_DAY))
    for dimension in ("", *DAY_DIMENSIONS):
        connection.execute(text(_recount_sql(connection.dialect.name, dimension)))


def _count_one(connection: Connection, key: dict[str, Any], seconds: float | None, by: int) -> None:
    params = {f"key_{k}": v for k, v in key.items()}
    found = connection.execute(_DAY_ROW, params).first()
    if found is None:
        if by > 0:
            values = {"facts": by, "low": seconds, "high": seconds}
            connection.execute(insert(_DAY), {**key, **values})
        return
    facts = found.facts + by
    if facts <= 0:
        connection.execute(_DAY_GONE, params)
        return
    low, high = found.low, found.high
    if seconds is not None:
        low = seconds if low is None else min(low, seconds)
        high = seconds if high is None else max(high, seconds)
    connection.execute(_DAY_SET, {**params, "facts": facts, "low": low, "high": high})


def _add(connection: Connection, rows: list[dict[str, Any]]) -> None:
    connection.execute(_ADD_FACT, rows)
    for row in rows:
        count_in_day(connection, row, 1)


def dimensions_of(connection: Connection, case_id: str) -> dict[str, Any]:
    found = connection.execute(_CASE_DIMENSIONS, {"key": case_id}).first()
    if found is None:
        raise LookupError(f"no case {case_id}")
    return dict(found._mapping)


def span(
    case_id: str, dimensions: Mapping[str, Any], kind: str, name: str, seconds: float
) -> dict[str, Any]:
    """The row of a span: a stage left, or an answer and how long after the case opened."""
    seconds = max(0.0, seconds)
    return {
        "case_id": case_id, "kind": kind, "name": name, "ref": None, "seconds": seconds,
        "band": band_of(seconds), "who": None, "decided": False, "escalated": False,
        "late": False, **{d: dimensions[d] for d in FACT_DIMENSIONS},
    }  # fmt: skip


def case_changed(
    connection: Connection,
    case_id: str,
    before: Mapping[str, Any],
    stage: str | None,
    action: str,
    at: datetime,
) -> dict[str, Any]:
    """The facts a case change makes (`before`: the case row with its dimensions): the span of
    the stage it left, the answer it records. Gives the case's new `stage_since`, if any."""
    values: dict[str, Any] = {}
    rows = []
    if stage is not None and stage != before["stage"]:
        since = before.get("stage_since")
        if since is not None:
            seconds = (_utc(at) - _utc(since)).total_seconds()
            rows.append(span(case_id, before, "stage", str(before["stage"]), seconds))
        values["stage_since"] = None if stage == Stage.CLOSED else at
    if action in ANSWERS:
        seconds = (_utc(at) - _utc(before["opened_at"])).total_seconds()
        rows.append(span(case_id, before, "answer", ANSWERS[action], seconds))
    if rows:
        _add(connection, rows)
    return values


def answer_given(connection: Connection, case_id: str, action: str, at: datetime) -> None:
    """An answer recorded outside a case change (an audit event of its own)."""
    if action in ANSWERS:
        dimensions = dimensions_of(connection, case_id)
        case_changed(connection, case_id, {**dimensions, "stage": None}, None, action, at)


def task_fact(task: Mapping[str, Any], dimensions: Mapping[str, Any]) -> dict[str, Any]:
    """The row of a task (a `case_task` row's columns) as it stands: with whom, decided, late."""
    decided, due = task.get("decided_at"), task.get("due_at")
    return {
        "case_id": task["case_id"], "kind": "task", "name": task["kind"], "ref": task["id"],
        "seconds": None, "band": None, "who": task.get("decided_by") or task["assignee"],
        "decided": decided is not None, "escalated": task.get("escalated_at") is not None,
        "late": decided is not None and due is not None and _utc(decided) > _utc(due),
        **{d: dimensions[d] for d in FACT_DIMENSIONS},
    }  # fmt: skip


def task_opened(connection: Connection, task: Mapping[str, Any]) -> None:
    _add(connection, [task_fact(task, dimensions_of(connection, task["case_id"]))])


def _task_moved(connection: Connection, task_id: str, values: Mapping[str, Any]) -> None:
    """A task still open changed (with whom, escalated, decided): its fact and its day's count."""
    found = connection.execute(_TASK_STATE, {"key": task_id}).first()
    if found is None or found.decided:
        return
    before = dict(found._mapping)
    connection.execute(_TASK_FACT, {"key": task_id, **values})
    count_in_day(connection, before, -1)
    count_in_day(connection, {**before, **values}, 1)


def task_reassigned(connection: Connection, task_id: str, who: str, escalated: bool) -> None:
    values: dict[str, Any] = {"who": who}
    if escalated:
        values["escalated"] = True
    _task_moved(connection, task_id, values)


def task_closed(
    connection: Connection, task_id: str, by: str | None, at: datetime, due: datetime | None
) -> None:
    late = due is not None and _utc(at) > _utc(due)
    values: dict[str, Any] = {"decided": True, "late": late}
    if by is not None:
        values["who"] = by
    _task_moved(connection, task_id, values)


def churn_corrected(connection: Connection, case_id: str, churn_class: str) -> None:
    """The case's facts move to the corrected class, and so do their days' counts by class."""
    rows = connection.execute(select(_FACTS).where(_FACTS.c.case_id == case_id)).mappings().all()
    connection.execute(
        update(_FACTS).where(_FACTS.c.case_id == case_id).values(churn_class=churn_class)
    )
    for row in rows:
        fact = dict(row)
        if fact["churn_class"] != churn_class:
            count_in_day(connection, fact, -1, ("churn_class",))
            count_in_day(connection, {**fact, "churn_class": churn_class}, 1, ("churn_class",))


# ------------------------------------------------------------ the retention load


def load_keys(case: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(category, year of its deletion) of each category an archived case still keeps; a case
    without category clocks keeps everything until its retention end."""
    if case.get("outcome") is not None or case.get("stage") not in (
        Stage.RETENTION,
        Stage.DELETION,
    ):
        return []
    clocks = case.get("category_clocks")
    if clocks:
        return [
            (str(c["category"]), _year(c["ends_at"])) for c in clocks if c.get("deleted_at") is None
        ]
    end = case.get("retention_end")
    return [(ALL_CATEGORIES, _year(end))] if end is not None else []


def _year(at: datetime | str) -> int:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return _utc(moment).astimezone(UTC).year


def move_load(
    connection: Connection,
    owner: str | None,
    before: Iterable[tuple[str, int]],
    after: Iterable[tuple[str, int]],
) -> None:
    """A case's kept categories moved from `before` to `after`."""
    moves = Counter(after)
    moves.subtract(Counter(before))
    for (category, year), by in moves.items():
        if by == 0:
            continue
        key = {"key_owner": owner or "", "key_category": category, "key_year": year}
        if connection.execute(_LOAD_SHIFT, {**key, "by": by}).rowcount == 0:
            connection.execute(
                insert(_LOAD),
                {"owner": owner or "", "category": category, "year": year, "customers": by},
            )
        if by < 0:
            connection.execute(_LOAD_EMPTIED, key)  # a year with no one left is no row
