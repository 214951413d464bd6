"""The deletions due per day follow every case change, hold and release, and the migration
counts what was there before; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from closeout.cases import forecast
from closeout.cases.repository import CaseRepository
from closeout.contracts import (
    AuditEntry,
    CaseChange,
    CaseOpened,
    CategoryClock,
    CloseCustomerInput,
    HoldPlaced,
    HoldReleased,
)
from closeout.db import Database, upgrade
from closeout.domain import ChurnClass, DataCategory, Outcome, Stage, Trigger
from tests.support import read_model

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def audit(action: str) -> AuditEntry:
    return AuditEntry(str(uuid.uuid4()), "system", action, NOW)


def opened(repo: CaseRepository) -> str:
    case_id = str(uuid.uuid4())
    case = CloseCustomerInput(
        case_id, f"cust-{case_id[:8]}", Trigger.INACTIVITY, ChurnClass.NATURAL, "standard", "x"
    )
    repo.record_case_opened(CaseOpened(case, f"close-customer-{case_id}", "run", audit("open")))
    return case_id


def counted(db: Database) -> dict[tuple[date, bool], int]:
    with db.transaction() as connection:
        rows = forecast.due_until(connection, date(2100, 1, 1))
    return {(day, held): n for day, held, n in rows}


def rebuilt(db: Database) -> dict[tuple[date, bool], int]:
    with db.transaction() as connection:
        forecast.rebuild(connection)
    return counted(db)


def test_changes_holds_and_releases_move_the_counts(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    one, other = opened(repo), opened(repo)
    clocks = [
        CategoryClock(DataCategory.MARKETING_DATA, NOW - DAY, NOW - DAY),
        CategoryClock(DataCategory.CONTACT_DATA, NOW + 20 * DAY),
        CategoryClock(DataCategory.ACCOUNTING_RECORDS, NOW + 20 * DAY + timedelta(hours=3)),
    ]
    assert counted(db) == {}
    archived = CaseChange(one, audit("archived"), Stage.RETENTION, None, None, NOW + 20 * DAY,
                          clocks)  # fmt: skip
    repo.apply_case_change(archived)
    repo.apply_case_change(archived)  # a retried activity counts once
    repo.apply_case_change(
        CaseChange(other, audit("archived"), Stage.RETENTION, retention_end=NOW + 5 * DAY)
    )
    day5, day20 = (NOW + 5 * DAY).date(), (NOW + 20 * DAY).date()
    assert counted(db) == {(day20, False): 2, (day5, False): 1}

    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for hold_id in (first, second, second):
        repo.record_hold_placed(HoldPlaced(hold_id, one, "audit", None, "kim", audit("hold")))
    assert counted(db) == {(day20, True): 2, (day5, False): 1}
    repo.record_hold_released(HoldReleased(first, "kim", "done", audit("release")))
    assert counted(db) == {(day20, True): 2, (day5, False): 1}, "one hold still stands"

    contact_gone = [clocks[0], CategoryClock(DataCategory.CONTACT_DATA, NOW + 20 * DAY, NOW),
                    clocks[2]]  # fmt: skip
    repo.apply_case_change(CaseChange(one, audit("deleted"), category_clocks=contact_gone))
    assert counted(db) == {(day20, True): 1, (day5, False): 1}
    repo.record_hold_released(HoldReleased(second, "kim", "done", audit("release")))
    repo.record_hold_released(HoldReleased(second, "kim", "done", audit("release")))
    assert counted(db) == {(day20, False): 1, (day5, False): 1}

    repo.apply_case_change(CaseChange(other, audit("moved"), retention_end=NOW + 40 * DAY))
    repo.apply_case_change(CaseChange(one, audit("reactivated"), Stage.CLOSED, Outcome.REACTIVATED))
    assert counted(db) == {((NOW + 40 * DAY).date(), False): 1}
    assert rebuilt(db) == counted(db), "counting afresh finds what the writes kept"


def test_the_migration_counts_the_cases_already_in_retention(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    upgrade(url, "0012")
    db = Database.from_url(url)
    rows = [
        ("a", [{"category": "contact_data", "ends_at": "2031-02-03T10:00:00+00:00",
                "deleted_at": None},
               {"category": "contracts", "ends_at": "2033-01-01T00:00:00+00:00",
                "deleted_at": None},
               {"category": "marketing_data", "ends_at": "2030-01-01T00:00:00+00:00",
                "deleted_at": "2030-01-01T00:00:00+00:00"}], None),
        ("b", None, datetime(2031, 2, 3, 23)),
    ]  # fmt: skip
    with db.engine.begin() as conn:
        for case_id, clocks, end in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO closure_case (id, workflow_id, run_id, customer_id, \"trigger\", "
                    "churn_class, evidence, policy, stage, opened_by, opened_at, updated_at, "
                    "category_clocks, retention_end) VALUES (:id, :id, 'r', :id, 'manual', "
                    "'natural', '{}', 'standard', 'retention', 'x', :at, :at, :clocks, :end)"
                ),
                {"id": case_id, "at": datetime(2030, 1, 1), "end": end,
                 "clocks": json.dumps(clocks) if clocks else None},
            )  # fmt: skip
        conn.execute(
            sa.text(
                "INSERT INTO legal_hold (id, case_id, reason, placed_by, placed_at) "
                "VALUES ('h', 'b', 'audit', 'kim', :at)"
            ),
            {"at": datetime(2030, 1, 1)},
        )
    db.engine.dispose()
    upgrade(url)
    db = Database.from_url(url)
    assert counted(db) == {
        (date(2031, 2, 3), False): 1,
        (date(2033, 1, 1), False): 1,
        (date(2031, 2, 3), True): 1,
    }
    assert rebuilt(db) == counted(db)
