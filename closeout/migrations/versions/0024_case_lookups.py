"""a case's rows found through an index: detection_candidate by customer_id, and
trigger_delivery by the case it opened (a case_id column, filled from the stored answer)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DELIVERY = sa.table(
    "trigger_delivery",
    sa.column("response", sa.JSON),
    sa.column("case_id", sa.String),
)


def upgrade() -> None:
    op.create_index("ix_detection_candidate_customer_id", "detection_candidate", ["customer_id"])
    with op.batch_alter_table("trigger_delivery") as batch:
        batch.add_column(sa.Column("case_id", sa.String(length=36), nullable=True))
        batch.create_index("ix_trigger_delivery_case_id", ["case_id"])
    opened = _DELIVERY.c.response["case_id"].as_string()
    op.execute(sa.update(_DELIVERY).where(opened.is_not(None)).values(case_id=opened))


def downgrade() -> None:
    with op.batch_alter_table("trigger_delivery") as batch:
        batch.drop_index("ix_trigger_delivery_case_id")
        batch.drop_column("case_id")
    op.drop_index("ix_detection_candidate_customer_id", "detection_candidate")
