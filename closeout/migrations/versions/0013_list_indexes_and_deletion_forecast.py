"""indexes in the lists' orders, and the deletions due per day

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 11:00:00.000000
"""

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _day(at: Any) -> date:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()


def _count_existing_deletions() -> None:
    """Each archived case's pending deletions (every category still kept, or its retention
    end), counted per day and hold state, as the read model's writes keep them from now on."""
    bind = op.get_bind()
    held = {
        row[0]
        for row in bind.execute(
            sa.text("SELECT DISTINCT case_id FROM legal_hold WHERE released_at IS NULL")
        )
    }
    counts: Counter[tuple[date, bool]] = Counter()
    cases = bind.execute(
        sa.text(
            "SELECT id, category_clocks, retention_end FROM closure_case "
            "WHERE stage = 'retention' AND outcome IS NULL"
        )
    )
    for case_id, clocks, end in cases:
        if isinstance(clocks, str):
            clocks = json.loads(clocks)
        if clocks:
            days = [_day(c["ends_at"]) for c in clocks if c.get("deleted_at") is None]
        else:
            days = [_day(end)] if end is not None else []
        for day in days:
            counts[(day, case_id in held)] += 1
    forecast = sa.table(
        "deletion_forecast",
        sa.column("day", sa.Date()),
        sa.column("held", sa.Boolean()),
        sa.column("deletions", sa.Integer()),
    )
    rows = [{"day": d, "held": h, "deletions": n} for (d, h), n in counts.items()]
    if rows:
        op.bulk_insert(forecast, rows)


def upgrade() -> None:
    op.create_table(
        "deletion_forecast",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("deletions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "held"),
    )
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_task_inbox", ["assignee", "status", "due_at", "id"], unique=False
        )
        batch_op.create_index("ix_case_task_status_due", ["status", "due_at", "id"], unique=False)
    with op.batch_alter_table("closure_case", schema=None) as batch_op:
        batch_op.create_index("ix_closure_case_opened", ["opened_at", "id"], unique=False)
        batch_op.create_index(
            "ix_closure_case_owner_opened", ["owner", "opened_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_closure_case_stage_next_deletion", ["stage", "next_deletion_at", "id"], unique=False
        )
    _count_existing_deletions()


def downgrade() -> None:
    with op.batch_alter_table("closure_case", schema=None) as batch_op:
        batch_op.drop_index("ix_closure_case_stage_next_deletion")
        batch_op.drop_index("ix_closure_case_owner_opened")
        batch_op.drop_index("ix_closure_case_opened")
    with op.batch_alter_table("case_task", schema=None) as batch_op:
        batch_op.drop_index("ix_case_task_status_due")
        batch_op.drop_index("ix_case_task_inbox")
    op.drop_table("deletion_forecast")
