"""Migration 0017 gives the cases opened before it their month (in UTC) and their customer's
country, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from closeout.db import Database, upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database at the revision before 0017."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/old.db"
        upgrade(url, "0016")
        yield url
        return
    server = str(request.getfixturevalue("postgres_server"))
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{server}/{name}"
    upgrade(url, "0016")
    yield url
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_cases_opened_before_get_their_month_and_country(old_url: str) -> None:
    db = Database.from_url(old_url)
    shanghai = timezone(timedelta(hours=8))
    opened = {
        "a": datetime(2026, 12, 1, 0, 30, tzinfo=shanghai),  # November in UTC
        "b": datetime(2026, 12, 1, 0, 30, tzinfo=UTC),
    }
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO crm_customer (id, name, email, owner, value_tier, locale, status, "
                "created_at, country) VALUES ('a', 'A', 'a@example.com', 'x', 'standard', 'zh-CN', "
                "'active', :at, 'CN')"
            ),
            {"at": datetime(2020, 1, 1, tzinfo=UTC)},
        )
        for case_id, at in opened.items():
            # As the read model wrote them: UTC (SQLite keeps it as text without an offset).
            at_utc = at.astimezone(UTC)
            conn.execute(
                sa.text(
                    'INSERT INTO closure_case (id, workflow_id, run_id, customer_id, "trigger", '
                    "churn_class, evidence, policy, stage, opened_by, opened_at, updated_at) "
                    "VALUES (:id, :id, 'r', :id, 'inactivity', 'natural', '{}', 'standard', "
                    "'win_back', 'x', :at, :at)"
                ),
                {
                    "id": case_id,
                    "at": at_utc if "postgresql" in old_url else at_utc.replace(tzinfo=None),
                },
            )
    db.engine.dispose()
    upgrade(old_url)
    db = Database.from_url(old_url)
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, opened_month, country FROM closure_case ORDER BY id")
        ).all()
    db.engine.dispose()
    assert [tuple(r) for r in rows] == [("a", "2026-11", "CN"), ("b", "2026-12", None)]
