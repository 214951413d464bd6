"""The facts the insights count, kept as cases change (closeout/cases/facts.py): percentiles
from bands, a retry written once, a churn-class correction carried over, the retention load
moved, and migration 0019 filling them in from the history already there — on SQLite and
PostgreSQL."""

from __future__ import annotations

import random
import statistics
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import select

from closeout.cases.facts import BAND_RATIO, DAY_DIMENSIONS, DAY_KEY, band_of, recount_days
from closeout.cases.models import InsightDay
from closeout.cases.repository import CaseRepository
from closeout.contracts import (
    AuditEntry,
    CaseChange,
    CategoryClock,
    CloseTask,
    OpenTask,
    TaskReassigned,
)
from closeout.db import Database, alembic_config, table_of, upgrade
from closeout.domain import (
    ChurnClass,
    DataCategory,
    Outcome,
    Stage,
    TaskDecision,
    TaskKind,
    TaskStatus,
)
from closeout.insights import Band, Insights, InsightsFilter, percentile_hours, ranked
from tests.cases.test_insights import LI, SAM, _case, _entry
from tests.support import read_model

OPENED = datetime(2026, 11, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
PERIOD = InsightsFilter(OPENED, OPENED + timedelta(days=60))


@pytest.mark.parametrize(
    ("seconds", "band"),
    [(-5.0, 0), (0.0, 0), (1.0, 0), (1.09, 0), (1.2, 1), (1.3, 2), (3600.0, 85), (7200.0, 93)],
)
def test_a_span_falls_in_the_band_of_its_length(seconds: float, band: int) -> None:
    assert band_of(seconds) == band
    if seconds >= BAND_RATIO:
        assert BAND_RATIO**band <= seconds < BAND_RATIO ** (band + 1)


@pytest.mark.parametrize(
    ("bands", "rank", "value"),
    [
        ([Band(1, 5.0, 5.0)], 1, 5.0),
        ([Band(3, 7.0, 7.0)], 2, 7.0),  # one length: exact
        ([Band(2, 1.0, 1.0), Band(3, 10.0, 11.0)], 3, 10.0),  # the next band's shortest
        ([Band(2, 1.0, 1.0), Band(3, 10.0, 11.0)], 5, 11.0),  # ... and its longest
        ([Band(2, 1.0, 1.0), Band(3, 10.0, 11.0)], 4, 10.5),  # placed evenly between
    ],
)
def test_a_rank_is_read_from_the_bands(bands: list[Band], rank: int, value: float) -> None:
    assert ranked(bands, rank) == value


def test_a_rank_past_the_last_span_is_refused() -> None:
    with pytest.raises(ValueError, match="past the last"):
        ranked([Band(2, 1.0, 2.0)], 3)


def test_percentiles_from_bands_stay_within_a_band_of_the_exact_ones() -> None:
    rng = random.Random(7)
    for n in (1, 2, 9, 10, 101, 5000):
        spans = sorted(rng.uniform(60, 86_400 * 40) for _ in range(n))
        grouped: dict[int, list[float]] = {}
        for s in spans:
            grouped.setdefault(band_of(s), []).append(s)
        bands = [Band(len(v), min(v), max(v)) for _b, v in sorted(grouped.items())]
        found = percentile_hours(bands)
        exact_median = statistics.median(spans) / 3600
        exact_p90 = spans[-(-9 * n // 10) - 1] / 3600
        assert abs(found["median_hours"] - exact_median) <= 0.1 * exact_median + 0.01
        assert abs(found["p90_hours"] - exact_p90) <= 0.1 * exact_p90 + 0.01


def _enter(repo: CaseRepository, case_id: str, stage: Stage, at: datetime) -> AuditEntry:
    entry = AuditEntry(str(uuid.uuid4()), "x", "stage_entered", at, None, {"stage": str(stage)})
    repo.apply_case_change(CaseChange(case_id, entry, stage))
    return entry


def test_a_retried_change_and_a_stage_entered_again_count_once(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    case_id = _case(repo, OPENED)
    _enter(repo, case_id, Stage.WIN_BACK, OPENED)
    again = _enter(repo, case_id, Stage.NOTICE, OPENED + 3 * HOUR)
    repo.apply_case_change(CaseChange(case_id, again, Stage.NOTICE))  # the activity retried
    _enter(repo, case_id, Stage.NOTICE, OPENED + 4 * HOUR)  # the same stage: it goes on
    # The customer's answer, recorded with a case change as the workflow records it.
    repo.apply_case_change(CaseChange(case_id, _entry("customer_stay", OPENED + 5 * HOUR)))
    closing = CaseChange(
        case_id, _entry("case_closed", OPENED + 9 * HOUR), Stage.CLOSED, Outcome.RETAINED
    )
    repo.apply_case_change(closing)
    repo.apply_case_change(closing)
    insights = Insights(db)
    stages = {r["stage"]: (r["cases"], r["median_hours"]) for r in insights.time_in_stage(PERIOD)}
    assert stages == {"win_back": (1, 3.0), "notice": (1, 6.0)}
    assert insights.answers(PERIOD) == [
        {"answer": "stay", "answers": 1, "median_hours": 5.0, "p90_hours": 5.0}
    ]
    db.engine.dispose()


def test_a_corrected_churn_class_carries_over_to_the_facts(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    case_id = _case(repo, OPENED)
    _enter(repo, case_id, Stage.APPROVAL, OPENED)
    _enter(repo, case_id, Stage.BACKUP, OPENED + 2 * HOUR)
    task_id = str(uuid.uuid4())
    repo.open_task(OpenTask(task_id, case_id, "c", TaskKind.APPROVAL, SAM, OPENED + 24 * HOUR,
                            _entry("task_opened", OPENED)))  # fmt: skip
    competitive = InsightsFilter(PERIOD.since, PERIOD.until, churn_class="competitive")
    insights = Insights(db)
    assert insights.time_in_stage(competitive) == []
    corrected = repo.correct_churn_class(
        case_id, ChurnClass.COMPETITIVE, _entry("churn_class_corrected", OPENED + 3 * HOUR)
    )
    assert corrected
    assert [r["stage"] for r in insights.time_in_stage(competitive)] == ["approval"]
    assert insights.approval_sla(competitive)["open"] == 1
    natural = InsightsFilter(PERIOD.since, PERIOD.until, churn_class="natural")
    assert insights.time_in_stage(natural) == [] and insights.tasks_per_owner(natural) == []
    db.engine.dispose()


def test_the_retention_load_moves_with_deletions_and_reactivation(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    clocks = [
        CategoryClock(DataCategory.CONTACT_DATA, datetime(2027, 6, 1, tzinfo=UTC)),
        CategoryClock(DataCategory.CONTRACTS, datetime(2036, 6, 1, tzinfo=UTC)),
    ]
    case_id = _case(repo, OPENED, owner=LI)
    repo.apply_case_change(
        CaseChange(
            case_id, _entry("stage_entered", OPENED), Stage.RETENTION, category_clocks=clocks
        )
    )
    insights = Insights(db)
    assert [(r["category"], r["year"]) for r in insights.retention_load(owner=LI)] == [
        ("contact_data", 2027),
        ("contracts", 2036),
    ]
    gone = [CategoryClock(clocks[0].category, clocks[0].ends_at, OPENED), clocks[1]]
    repo.apply_case_change(CaseChange(case_id, _entry("category_deleted", OPENED), None,
                                      category_clocks=gone))  # fmt: skip
    assert insights.retention_load() == [{"category": "contracts", "year": 2036, "customers": 1}]
    repo.apply_case_change(CaseChange(case_id, _entry("case_closed", OPENED), Stage.CLOSED,
                                      Outcome.REACTIVATED))  # fmt: skip
    assert insights.retention_load() == [] and insights.retention_load(owner=SAM) == []
    db.engine.dispose()


def _history(repo: CaseRepository) -> None:
    """Cases as the workflows leave them: stages entered and left, answers, tasks decided on
    time, late, escalated or not yet, one archived with its category clocks."""
    for n, hours in enumerate((2, 5, 30)):
        case_id = _case(repo, OPENED + n * HOUR, owner=(SAM, LI, SAM)[n])
        _enter(repo, case_id, Stage.WIN_BACK, OPENED + n * HOUR)
        task_id = str(uuid.uuid4())
        due = OPENED + 48 * HOUR
        repo.open_task(OpenTask(task_id, case_id, "c", TaskKind.APPROVAL, SAM, due,
                                _entry("task_opened", OPENED)))  # fmt: skip
        if n == 1:
            escalation = _entry("task_escalated", due)
            repo.reassign_task(
                TaskReassigned(task_id, "group:managers", escalation, escalated=True)
            )
        if n < 2:
            repo.close_task(CloseTask(task_id, TaskStatus.DONE,
                                      _entry("task_decided", due + n * 30 * HOUR),
                                      TaskDecision.APPROVE, "ok", LI))  # fmt: skip
        repo.append_audit(case_id, _entry("customer_object", OPENED + (n + 1) * 7 * HOUR))
        _enter(repo, case_id, Stage.NOTICE, OPENED + (n + hours) * HOUR)
        if n == 2:
            _enter(repo, case_id, Stage.RETENTION, OPENED + 40 * HOUR)
            repo.apply_case_change(
                CaseChange(
                    case_id,
                    _entry("retention_set", OPENED + 40 * HOUR),
                    None,
                    retention_end=datetime(2031, 1, 1, tzinfo=UTC),
                )
            )
        else:
            repo.apply_case_change(CaseChange(case_id, _entry("case_closed", OPENED + 50 * HOUR),
                                              Stage.CLOSED, Outcome.CANCELLED))  # fmt: skip


def _figures(db: Database, period: InsightsFilter = PERIOD) -> dict[str, object]:
    insights = Insights(db)
    return {
        "stages": insights.time_in_stage(period),
        "answers": insights.answers(period),
        "sla": insights.approval_sla(period),
        "tasks": insights.tasks_per_owner(period),
        "load": insights.retention_load(),
        "load_li": insights.retention_load(owner=LI),
    }


def test_migration_0019_fills_the_facts_in_from_the_history(database_url: str) -> None:
    db = Database.from_url(database_url)
    _history(read_model(db))
    kept = _figures(db)
    assert kept["sla"] == {"on_time": 1, "late": 0, "escalated": 1, "open": 1}
    assert kept["load"] == [{"category": "all_categories", "year": 2031, "customers": 1}]
    assert {r["who"]: r["decided"] for r in kept["tasks"]} == {LI: 2, SAM: 0}  # type: ignore[attr-defined]
    # Whole days are read from the counts per day; the same period a second longer, from the
    # facts one by one: the same figures, of every case and of one owner's.
    assert PERIOD.counted_by_day() == ("", "")
    longer = InsightsFilter(PERIOD.since - timedelta(seconds=1), PERIOD.until)
    assert longer.counted_by_day() is None and _figures(db, longer) == kept
    sams = InsightsFilter(PERIOD.since, PERIOD.until, owner=SAM)
    sams_longer = InsightsFilter(longer.since, PERIOD.until, owner=SAM)
    assert sams.counted_by_day() == ("owner", SAM)
    assert _figures(db, sams) == _figures(db, sams_longer) != kept
    db.engine.dispose()
    # Back to before the facts, and forward again: filled in from the audit trail and tasks.
    command.downgrade(alembic_config(database_url), "0018")
    upgrade(database_url)
    db = Database.from_url(database_url)
    assert _figures(db) == kept
    db.engine.dispose()


def test_the_counts_kept_per_day_are_those_counted_afresh(database_url: str) -> None:
    """Each fact is counted into its day's rows as it comes (made or added to in one
    statement); counting every fact again from scratch gives the same rows, bounds included."""
    db = Database.from_url(database_url)
    repo = read_model(db)
    _history(repo)
    for seconds in (3600, 3620):  # two spans of one band, its bounds moved by the second
        case_id = _case(repo, OPENED)
        _enter(repo, case_id, Stage.WIN_BACK, OPENED)
        _enter(repo, case_id, Stage.NOTICE, OPENED + timedelta(seconds=seconds))
    day = table_of(InsightDay)
    order = [day.c[k] for k in DAY_KEY]
    with db.engine.begin() as connection:
        kept = connection.execute(select(day).order_by(*order)).all()
        recount_days(connection)
        counted = connection.execute(select(day).order_by(*order)).all()
    assert len(kept) > 20
    assert {row.dimension for row in kept} == {"", *DAY_DIMENSIONS}
    assert any(row.facts > 1 and row.low < row.high for row in kept)
    assert kept == counted
    db.engine.dispose()
