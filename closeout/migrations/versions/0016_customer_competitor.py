"""the reference CRM's customers may name the competitor they moved to or talk with

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 21:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("crm_customer", sa.Column("competitor", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("crm_customer", "competitor")
