"""cases keep the month they opened in and the customer's country; one covering index serves
the insights' case views; audit_event.erased_at keeps its time zone on PostgreSQL as every other
moment does (0007 made it a plain timestamp)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSIGHTS_COLUMNS = [
    "opened_month", "trigger", "churn_class", "opened_at", "outcome", "stage", "owner",
    "value_tier", "country", "closed_at",
]  # fmt: skip

# The month a case opened in, UTC, as `opened_month_of` says it. SQLite holds UTC moments as
# text ("2026-11-30 23:14:11.070260").
POSTGRES_MONTH = "to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM')"
SQLITE_MONTH = "substr(opened_at, 1, 7)"
BACKFILL = (
    "UPDATE closure_case SET opened_month = {month}, "
    "country = (SELECT c.country FROM crm_customer c WHERE c.id = closure_case.customer_id)"
)


def upgrade() -> None:
    with op.batch_alter_table("closure_case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("opened_month", sa.String(length=7), nullable=True))
    # Cases opened before: their month (stored in UTC), and the customer's country where the
    # reference CRM still has them.
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(BACKFILL.format(month=POSTGRES_MONTH if postgres else SQLITE_MONTH))
    with op.batch_alter_table("closure_case", schema=None) as batch_op:
        batch_op.alter_column("opened_month", existing_type=sa.String(length=7), nullable=False)
        batch_op.create_index("ix_closure_case_insights", INSIGHTS_COLUMNS, unique=False)
    if postgres:
        # Written in UTC: read as UTC.
        op.alter_column(
            "audit_event",
            "erased_at",
            type_=sa.DateTime(timezone=True),
            existing_type=sa.DateTime(),
            postgresql_using="erased_at AT TIME ZONE 'UTC'",
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "audit_event",
            "erased_at",
            type_=sa.DateTime(),
            existing_type=sa.DateTime(timezone=True),
            postgresql_using="erased_at AT TIME ZONE 'UTC'",
        )
    with op.batch_alter_table("closure_case", schema=None) as batch_op:
        batch_op.drop_index("ix_closure_case_insights")
        batch_op.drop_column("opened_month")
        batch_op.drop_column("country")
