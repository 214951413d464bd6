"""a customer's own request on the law's clock: closure_case.request_due_at (indexed, for the
compliance list of open requests by days left) and request_answered_at

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 09:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("closure_case") as batch:
        batch.add_column(
            sa.Column("request_due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch.add_column(
            sa.Column("request_answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    op.create_index("ix_closure_case_request_due_at", "closure_case", ["request_due_at"])


def downgrade() -> None:
    op.drop_index("ix_closure_case_request_due_at", "closure_case")
    with op.batch_alter_table("closure_case") as batch:
        batch.drop_column("request_answered_at")
        batch.drop_column("request_due_at")
