"""the customer's words sealed in the read model: free-text and address columns hold ciphertext

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 11:30:00.000000

Sealed text is longer than the words it seals, so the columns that hold a customer's words
lose their length limits (the API still limits what it accepts). SQLite keeps no lengths:
only PostgreSQL's columns change. Rows written before stay readable as they are; deletion
erases them as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, length before)
WORDS_COLUMNS = (
    ("case_task", "note", 2000),
    ("case_task", "comment", 4000),
    ("legal_hold", "reason", 2000),
    ("legal_hold", "reference", 200),
    ("legal_hold", "release_reason", 2000),
    ("notice", "recipient", 320),
    ("detection_exclusion", "reason", 2000),
    ("audit_event", "reason", 4000),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, length in WORDS_COLUMNS:
        op.alter_column(table, column, type_=sa.Text(), existing_type=sa.String(length))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, length in WORDS_COLUMNS:
        op.alter_column(table, column, type_=sa.String(length), existing_type=sa.Text())
