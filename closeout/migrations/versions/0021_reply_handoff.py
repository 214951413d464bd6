"""a reply's way to its case: inbound_message.handoff (pending, task, case_closed, not_needed),
the customer_reply task it opened and when

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 09:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_message") as batch:
        batch.add_column(
            sa.Column("handoff", sa.String(length=16), nullable=False, server_default="not_needed")
        )
        batch.add_column(sa.Column("task_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("handed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.execute("UPDATE inbound_message SET handoff = 'pending' WHERE kind = 'reply'")
    op.create_index("ix_inbound_message_handoff", "inbound_message", ["handoff"])
    op.create_index("ix_inbound_message_task_id", "inbound_message", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_inbound_message_task_id", "inbound_message")
    op.drop_index("ix_inbound_message_handoff", "inbound_message")
    with op.batch_alter_table("inbound_message") as batch:
        batch.drop_column("handed_at")
        batch.drop_column("task_id")
        batch.drop_column("handoff")
