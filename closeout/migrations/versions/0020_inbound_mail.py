"""mail that came back and was matched to a case (inbound_message) and its attachments
(inbound_attachment), their words sealed under the customer's data key

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sender", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["closure_case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_inbound_message_case_id", "inbound_message", ["case_id"])
    op.create_index("ix_inbound_message_customer_id", "inbound_message", ["customer_id"])
    op.create_table(
        "inbound_attachment",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("inbound_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_message.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inbound_attachment_inbound_id", "inbound_attachment", ["inbound_id"])
    op.create_index("ix_inbound_attachment_customer_id", "inbound_attachment", ["customer_id"])


def downgrade() -> None:
    op.drop_table("inbound_attachment")
    op.drop_table("inbound_message")
