"""server-side sessions, tokens tied to users and expiring

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 08:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tokens made before tokens expired get the default lifetime from the upgrade on.
EXISTING_TOKENS_EXPIRE_AFTER = timedelta(days=90)


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id_sha256"),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True)
        )
        batch_op.add_column(
            sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_foreign_key("fk_api_token_user_id", "app_user", ["user_id"], ["id"])
    # A token named after a user's e-mail becomes that user's token (refused once they are
    # disabled); every existing token expires like a new one would.
    op.execute(
        "UPDATE api_token SET user_id = "
        "(SELECT app_user.id FROM app_user WHERE app_user.email = lower(api_token.name))"
    )
    tokens = sa.table("api_token", sa.column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime()))
    op.execute(
        tokens.update()
        .where(tokens.c.expires_at.is_(None))
        .values(expires_at=datetime.now(UTC) + EXISTING_TOKENS_EXPIRE_AFTER)
    )


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_constraint("fk_api_token_user_id", type_="foreignkey")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("user_id")
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_session_user_id"))
    op.drop_table("web_session")
