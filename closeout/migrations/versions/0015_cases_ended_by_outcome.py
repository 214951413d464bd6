"""the cases that ended, by outcome and when: detection's cool-down reads them every night

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 21:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_closure_case_outcome_closed", "closure_case", ["outcome", "closed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_closure_case_outcome_closed", table_name="closure_case")
