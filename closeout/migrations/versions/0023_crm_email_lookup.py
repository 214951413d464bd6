"""a customer found by their e-mail address, whatever its case: indexes on lower(email) of
crm_customer and crm_contact (the public request form)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_crm_customer_email_lower", "crm_customer", [sa.text("lower(email)")])
    op.create_index("ix_crm_contact_email_lower", "crm_contact", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_crm_contact_email_lower", "crm_contact")
    op.drop_index("ix_crm_customer_email_lower", "crm_customer")
