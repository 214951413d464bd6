"""users signed in by the company's identity provider: app_user.oidc_subject, and the
sign-out hint of their sessions (web_session.sign_out_hint)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("oidc_subject", sa.String(length=600), nullable=True))
        batch.create_unique_constraint("uq_app_user_oidc_subject", ["oidc_subject"])
    with op.batch_alter_table("web_session") as batch:
        batch.add_column(sa.Column("sign_out_hint", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_session") as batch:
        batch.drop_column("sign_out_hint")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_constraint("uq_app_user_oidc_subject", type_="unique")
        batch.drop_column("oidc_subject")
