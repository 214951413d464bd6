"""How many deletions fall due each day, kept as counts beside the cases they come from.

The retention page draws the deletions due over the next weeks. Counting them from the cases
costs a row per archived customer on every look; this table holds one row per day (and hold
state) instead, moved in the same transaction as the case change, hold or release that moves a
deletion. Its writes follow an audit append, which holds the chain head: they are serialised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, insert, select, update
from sqlalchemy import delete as sa_delete

from closeout.cases.models import CaseRecord, DeletionForecast, LegalHoldRecord
from closeout.db import table_of
from closeout.domain import Stage

_DAYS = table_of(DeletionForecast)
_HOLDS = table_of(LegalHoldRecord)
_SHIFT = (
    update(_DAYS)
    .where(_DAYS.c.day == bindparam("key_day"), _DAYS.c.held == bindparam("key_held"))
    .values(deletions=_DAYS.c.deletions + bindparam("by"))
)
_ADD = insert(_DAYS)
_EMPTIED = sa_delete(_DAYS).where(
    _DAYS.c.day == bindparam("key_day"),
    _DAYS.c.held == bindparam("key_held"),
    _DAYS.c.deletions <= 0,
)
_ACTIVE_HOLDS = select(func.count()).where(
    _HOLDS.c.case_id == bindparam("case_id"), _HOLDS.c.released_at.is_(None)
)
_UNTIL = select(_DAYS.c.day, _DAYS.c.held, _DAYS.c.deletions).where(
    _DAYS.c.day < bindparam("until")
)


def _day(at: datetime | str) -> date:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()


def due_days(case: Mapping[str, Any] | RowMapping) -> list[date]:
    """The days a case's pending deletions fall due: each category still kept, or its
    retention end; none unless it waits in retention."""
    if case.get("stage") != Stage.RETENTION or case.get("outcome") is not None:
        return []
    clocks = case.get("category_clocks")
    if clocks:
        return [_day(c["ends_at"]) for c in clocks if c.get("deleted_at") is None]
    end = case.get("retention_end")
    return [_day(end)] if end is not None else []


def shift(connection: Connection, days: Iterable[date], held: bool, by: int) -> None:
    """Add `by` deletions on each of `days` (a day twice: twice)."""
    for day, n in Counter(days).items():
        key = {"key_day": day, "key_held": held}
        moved = connection.execute(_SHIFT, {**key, "by": by * n})
        if moved.rowcount == 0:
            connection.execute(_ADD, {"day": day, "held": held, "deletions": by * n})
        elif by < 0:
            connection.execute(_EMPTIED, key)  # a day with nothing left due is no row


def active_holds(connection: Connection, case_id: str) -> int:
    return int(connection.execute(_ACTIVE_HOLDS, {"case_id": case_id}).scalar_one())


def move_case(
    connection: Connection, case_id: str, before: Sequence[date], after: Sequence[date]
) -> None:
    """A case's deletions moved from `before` to `after` (a clock changed or went)."""
    if sorted(before) == sorted(after):
        return
    held = active_holds(connection, case_id) > 0
    shift(connection, before, held, -1)
    shift(connection, after, held, +1)


def hold_changed(connection: Connection, case: Mapping[str, Any] | RowMapping, held: bool) -> None:
    """The case's first hold was placed (`held`) or its last one released."""
    days = due_days(case)
    shift(connection, days, not held, -1)
    shift(connection, days, held, +1)


def due_until(connection: Connection, until: date) -> list[tuple[date, bool, int]]:
    """Deletions due before `until` (overdue ones included), per day and hold state."""
    return [
        (r.day, bool(r.held), int(r.deletions))
        for r in connection.execute(_UNTIL, {"until": until})
    ]


_CASES = table_of(CaseRecord)
_IN_RETENTION = select(
    _CASES.c.id, _CASES.c.stage, _CASES.c.outcome, _CASES.c.category_clocks,
    _CASES.c.retention_end,
).where(_CASES.c.stage == Stage.RETENTION, _CASES.c.outcome.is_(None))  # fmt: skip
_HELD_CASES = select(_HOLDS.c.case_id).where(_HOLDS.c.released_at.is_(None)).distinct()


def rebuild(connection: Connection) -> int:
    """Count every case's deletions afresh (after rows were written around this module)."""
    held = {row[0] for row in connection.execute(_HELD_CASES)}
    counts: Counter[tuple[date, bool]] = Counter()
    for row in connection.execute(_IN_RETENTION).mappings():
        for day in due_days(row):
            counts[(day, row["id"] in held)] += 1
    connection.execute(sa_delete(_DAYS))
    rows = [{"day": d, "held": h, "deletions": n} for (d, h), n in counts.items()]
    if rows:
        connection.execute(_ADD, rows)
    return len(rows)
