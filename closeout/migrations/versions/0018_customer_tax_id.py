"""the reference CRM's customers may carry a tax or registration number: detection finds
duplicate records by it

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 23:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("crm_customer", sa.Column("tax_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_customer", schema=None) as batch_op:
        batch_op.drop_column("tax_id")
