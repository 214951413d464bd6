"""the insights' facts kept as they happen: each stage span, customer answer and task with its
case's filter columns (insight_fact) and counted per day (insight_day), the retention load per
owner, category and year (retention_load), and when a case entered its current stage
(closure_case.stage_since); filled in from the audit trail, the tasks and the cases there

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 04:00:00.000000
"""

import json
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As closeout/cases/facts.py said them when this migration was written (a migration keeps
# what it meant then).
DIMENSIONS = [
    "opened_month",
    "opened_at",
    "trigger",
    "churn_class",
    "value_tier",
    "country",
    "owner",
]
ANSWERS = {
    "customer_stay": "stay",
    "customer_object": "object",
    "customer_confirm_closure": "confirm_closure",
    "customer_download_data": "download_data",
}
BAND_RATIO = 1.1
BATCH = 5_000

_FACTS = sa.table(
    "insight_fact",
    *(sa.column(name) for name in ("case_id", "kind", "name", "ref", "who", "band")),
    sa.column("seconds", sa.Float()),
    sa.column("decided", sa.Boolean()),
    sa.column("escalated", sa.Boolean()),
    sa.column("late", sa.Boolean()),
    sa.column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    *(sa.column(name) for name in DIMENSIONS if name != "opened_at"),
)
_LOAD = sa.table(
    "retention_load",
    sa.column("owner"),
    sa.column("category"),
    sa.column("year", sa.Integer()),
    sa.column("customers", sa.Integer()),
)


# Moments read back as aware UTC datetimes (SQLite holds them as text).
_MOMENT = sqlmodel.sql.sqltypes.UTCDateTime()


def _utc(at: Any) -> datetime:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _band(seconds: float) -> int:
    return 0 if seconds < BAND_RATIO else math.floor(math.log(seconds) / math.log(BAND_RATIO))


def _span(case: dict[str, Any], kind: str, name: str, seconds: float) -> dict[str, Any]:
    seconds = max(0.0, seconds)
    return {
        "case_id": case["case_id"], "kind": kind, "name": name, "ref": None, "who": None,
        "seconds": seconds, "band": _band(seconds), "decided": False, "escalated": False,
        "late": False, **{d: case[d] for d in DIMENSIONS},
    }  # fmt: skip


def _dimensions(alias: str) -> str:
    return ", ".join(f"{alias}.{d}" for d in DIMENSIONS)


def _spans(bind: sa.Connection) -> Iterator[dict[str, Any]]:
    """The stage spans and answers of the audit trail, case by case in the chain's order."""
    events = bind.execute(
        sa.text(
            # Only this module's constant column names are put in: no value from outside.
            f"SELECT e.case_id, e.action, e.at, e.details, {_dimensions('c')} "  # nosec B608
            "FROM audit_event e JOIN closure_case c ON c.id = e.case_id "
            "WHERE e.action IN ('stage_entered', 'case_closed', "
            f"{', '.join(repr(a) for a in ANSWERS)}) ORDER BY e.case_id, e.seq"
        ).columns(at=_MOMENT, opened_at=_MOMENT)
    ).mappings()
    entered: tuple[str | None, str | None, datetime | None] = (None, None, None)
    for event in events:
        case = dict(event)
        at = _utc(case["at"])
        if case["action"] in ANSWERS:
            yield _span(
                case,
                "answer",
                ANSWERS[case["action"]],
                (at - _utc(case["opened_at"])).total_seconds(),
            )
            continue
        was_case, was_stage, since = entered
        details = case["details"]
        if isinstance(details, str):
            details = json.loads(details)
        stage = (details or {}).get("stage") if case["action"] == "stage_entered" else None
        if was_case == case["case_id"] and was_stage is not None and since is not None:
            if stage != was_stage:
                yield _span(case, "stage", was_stage, (at - since).total_seconds())
            else:
                continue  # entered again: the same span goes on
        entered = (case["case_id"], stage, at)


def _tasks(bind: sa.Connection) -> Iterator[dict[str, Any]]:
    tasks = bind.execute(
        sa.text(
            "SELECT t.id, t.case_id, t.kind, t.assignee, t.decided_by, t.decided_at, t.due_at, "  # nosec B608
            f"t.escalated_at, {_dimensions('c')} "
            "FROM case_task t JOIN closure_case c ON c.id = t.case_id"
        ).columns(decided_at=_MOMENT, due_at=_MOMENT, opened_at=_MOMENT)
    ).mappings()
    for task in tasks:
        decided, due = task["decided_at"], task["due_at"]
        yield {
            "case_id": task["case_id"], "kind": "task", "name": task["kind"], "ref": task["id"],
            "who": task["decided_by"] or task["assignee"], "seconds": None, "band": None,
            "decided": decided is not None, "escalated": task["escalated_at"] is not None,
            "late": decided is not None and due is not None and _utc(decided) > _utc(due),
            **{d: task[d] for d in DIMENSIONS},
        }  # fmt: skip


def _count_days(bind: sa.Connection) -> None:
    """Every fact among its day's: all of them, and by each of its case's columns."""
    postgres = bind.dialect.name == "postgresql"
    day = "CAST(opened_at AT TIME ZONE 'UTC' AS DATE)" if postgres else "date(opened_at)"
    state = f"kind, {day}, name, COALESCE(band, -1), COALESCE(who, ''), decided, escalated, late"
    for dimension in ("", "trigger", "churn_class", "value_tier", "country", "owner"):
        value = f"COALESCE({dimension}, '')" if dimension else "''"
        grouped = f"{value}, {state}" if dimension else state  # PostgreSQL: no constant
        op.execute(  # constant column names only
            "INSERT INTO insight_day (dimension, value, kind, day, name, band, who, decided, "  # nosec B608
            f"escalated, late, facts, low, high) SELECT '{dimension}', {value}, {state}, "
            f"COUNT(*), MIN(seconds), MAX(seconds) FROM insight_fact GROUP BY {grouped}"
        )


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _retention_load(bind: sa.Connection) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str, int]] = Counter()
    cases = bind.execute(
        sa.text(
            "SELECT owner, category_clocks, retention_end FROM closure_case "
            "WHERE outcome IS NULL AND stage IN ('retention', 'deletion')"
        ).columns(retention_end=_MOMENT)
    )
    for owner, clocks, end in cases:
        if isinstance(clocks, str):
            clocks = json.loads(clocks)
        if clocks:
            keys = [
                (c["category"], _utc(c["ends_at"]).astimezone(UTC).year)
                for c in clocks
                if c.get("deleted_at") is None
            ]
        else:
            keys = [("all_categories", _utc(end).astimezone(UTC).year)] if end is not None else []
        for category, year in keys:
            counts[(owner or "", category, year)] += 1
    return [
        {"owner": o, "category": c, "year": y, "customers": n} for (o, c, y), n in counts.items()
    ]


def upgrade() -> None:
    with op.batch_alter_table("closure_case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stage_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    op.create_table(
        "insight_fact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("ref", sa.String(length=36), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("band", sa.Integer(), nullable=True),
        sa.Column("who", sa.String(length=200), nullable=True),
        sa.Column("decided", sa.Boolean(), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("opened_month", sa.String(length=7), nullable=False),
        sa.Column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("churn_class", sa.String(length=40), nullable=False),
        sa.Column("value_tier", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["closure_case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "ref"),
    )
    op.create_table(
        "insight_day",
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("band", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("decided", sa.Boolean(), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("facts", sa.Integer(), nullable=False),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint(
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
        ),
    )
    op.create_table(
        "retention_load",
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "category", "year"),
    )
    bind = op.get_bind()
    # Open cases entered their stage at their last stage entry.
    op.execute(
        "UPDATE closure_case SET stage_since = (SELECT e.at FROM audit_event e "
        "WHERE e.case_id = closure_case.id AND e.action = 'stage_entered' "
        "ORDER BY e.seq DESC LIMIT 1) WHERE outcome IS NULL"
    )
    for batch in _batches(_spans(bind)):
        op.bulk_insert(_FACTS, batch)
    for batch in _batches(_tasks(bind)):
        op.bulk_insert(_FACTS, batch)
    _count_days(bind)
    load = _retention_load(bind)
    if load:
        op.bulk_insert(_LOAD, load)
    # The indexes once the rows are in: built once rather than grown row by row.
    op.create_index("ix_insight_fact_case_id", "insight_fact", ["case_id"], unique=False)
    op.create_index(
        "ix_insight_fact_spans",
        "insight_fact",
        ["kind", "owner", "name", "band", "seconds", *DIMENSIONS[:-1]],
    )
    op.create_index(
        "ix_insight_fact_tasks",
        "insight_fact",
        ["kind", "owner", "who", "name", "decided", "escalated", "late", *DIMENSIONS[:-1]],
    )


def downgrade() -> None:
    op.drop_table("retention_load")
    op.drop_table("insight_day")
    op.drop_index("ix_insight_fact_tasks", table_name="insight_fact")
    op.drop_index("ix_insight_fact_spans", table_name="insight_fact")
    op.drop_index("ix_insight_fact_case_id", table_name="insight_fact")
    op.drop_table("insight_fact")
    with op.batch_alter_table("closure_case", schema=None) as batch_op:
        batch_op.drop_column("stage_since")
