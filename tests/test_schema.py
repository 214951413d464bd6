"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL: a
model changed without its migration (or a migration without its model) fails here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from closeout.cases.models import opened_month_of
from closeout.db import Database, alembic_config, upgrade
from closeout.tables import metadata


# Alembic cannot compare an index on an expression (SQLite's reflection leaves them out); the
# test below looks for them itself.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrations_match_the_models(database_url: str) -> None:
    db = Database.from_url(database_url)
    try:
        with db.engine.connect() as connection:
            # SQLite keeps no column lengths (migration 0014 changes PostgreSQL's only).
            postgres = connection.dialect.name == "postgresql"
            context = MigrationContext.configure(connection, opts={"compare_type": postgres})
            assert compare_metadata(context, metadata) == []
    finally:
        db.engine.dispose()


def test_the_month_a_case_opened_in_is_utc() -> None:
    assert opened_month_of(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == "2026-11"
    # Midnight of 1 December in Shanghai is still November in UTC.
    shanghai = timezone(timedelta(hours=8))
    assert opened_month_of(datetime(2026, 12, 1, 0, 30, tzinfo=shanghai)) == "2026-11"
    assert opened_month_of(datetime(2026, 12, 1, 0, 0)) == "2026-12"  # naive: UTC


def test_customers_are_found_by_address_through_an_index(database_url: str) -> None:
    """The public request form looks customers up by lower(email) (migration 0023)."""
    db = Database.from_url(database_url)
    try:
        with db.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                rows = connection.execute(sa.text("SELECT indexname FROM pg_indexes")).scalars()
            else:
                rows = connection.execute(
                    sa.text("SELECT name FROM sqlite_master WHERE type = 'index'")
                ).scalars()
            names = set(rows)
        assert {"ix_crm_customer_email_lower", "ix_crm_contact_email_lower"} <= names
    finally:
        db.engine.dispose()


def test_migration_0024_files_each_delivery_under_the_case_it_opened(database_url: str) -> None:
    """Erasure finds a customer's webhook deliveries by case id through an index; the
    deliveries stored before the column are filed from their stored answer."""
    command.downgrade(alembic_config(database_url), "0023")
    deliveries = sa.table(
        "trigger_delivery",
        sa.column("idempotency_key", sa.String),
        sa.column("body_sha256", sa.String),
        sa.column("status_code", sa.Integer),
        sa.column("response", sa.JSON),
        sa.column("created_at", sa.DateTime),
    )
    at = datetime(2026, 11, 1, tzinfo=UTC)
    answers = {
        "opened": (201, {"case_id": "7d7e1a4c-1b64-4a53-9a56-2f4ad1a1d001", "status": "opened"}),
        "refused": (409, {"detail": "customer is excluded"}),
    }
    db = Database.from_url(database_url)
    with db.engine.begin() as connection:
        connection.execute(
            sa.insert(deliveries),
            [
                {
                    "idempotency_key": key,
                    "body_sha256": "0" * 64,
                    "status_code": code,
                    "response": response,
                    "created_at": at,
                }
                for key, (code, response) in answers.items()
            ],
        )
    db.engine.dispose()
    upgrade(database_url)
    db = Database.from_url(database_url)
    with db.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT idempotency_key, case_id FROM trigger_delivery"))
        filed = {key: case_id for key, case_id in rows}
    db.engine.dispose()
    assert filed == {"opened": "7d7e1a4c-1b64-4a53-9a56-2f4ad1a1d001", "refused": None}
