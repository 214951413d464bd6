"""audit hash chain

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from closeout.audit.chain import GENESIS, HEAD_ID, content_digest, event_digest
from closeout.audit.models import AuditEvent

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_events = sa.table(
    "audit_event",
    sa.column("id", sa.String),
    sa.column("seq", sa.Integer),
    sa.column("case_id", sa.String),
    sa.column("at", sa.DateTime),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("reason", sa.String),
    sa.column("details", sa.JSON),
    sa.column("content_sha256", sa.String),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(), nullable=True))

    # Chain the events written before, in the order they happened.
    bind = op.get_bind()
    rows = bind.execute(sa.select(_events).order_by(_events.c.at, _events.c.id)).mappings()
    seq, prev = 0, GENESIS
    for row in list(rows):
        seq += 1
        event = AuditEvent(
            id=row["id"],
            seq=seq,
            case_id=row["case_id"],
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            reason=row["reason"],
            details=row["details"] or {},
            content_sha256=content_digest(row["reason"], row["details"] or {}),
            prev_hash=prev,
            hash="",
        )
        event.hash = event_digest(event)
        bind.execute(
            _events.update()
            .where(_events.c.id == row["id"])
            .values(
                seq=seq,
                content_sha256=event.content_sha256,
                prev_hash=prev,
                hash=event.hash,
            )
        )
        prev = event.hash
    op.bulk_insert(
        sa.table(
            "audit_chain_head",
            sa.column("id", sa.Integer),
            sa.column("seq", sa.Integer),
            sa.column("hash", sa.String),
        ),
        [{"id": HEAD_ID, "seq": seq, "hash": prev}],
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("content_sha256", existing_type=sa.String(64), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch_op.create_unique_constraint("uq_audit_event_seq", ["seq"])


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_event_seq", type_="unique")
        batch_op.drop_column("erased_at")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("content_sha256")
        batch_op.drop_column("seq")
    op.drop_table("audit_chain_head")
