"""The insights' aggregates at their edges, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from closeout.cases.repository import CaseRepository
from closeout.contracts import (
    AuditEntry,
    CaseChange,
    CaseOpened,
    CategoryClock,
    CloseCustomerInput,
    CloseTask,
    HoldPlaced,
    OpenTask,
    TaskReassigned,
)
from closeout.db import Database
from closeout.domain import (
    ChurnClass,
    DataCategory,
    Outcome,
    Stage,
    TaskDecision,
    TaskKind,
    TaskStatus,
    Trigger,
)
from closeout.insights import Dimension, Insights, InsightsFilter
from tests.support import read_model

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SAM, LI, GRACE = "sam.okafor@example.com", "li.na@example.com", "grace.manager@example.com"


def _entry(action: str, at: datetime) -> AuditEntry:
    return AuditEntry(str(uuid.uuid4()), "x", action, at)


def _case(
    repo: CaseRepository,
    opened: datetime,
    trigger: Trigger = Trigger.INACTIVITY,
    churn: ChurnClass = ChurnClass.NATURAL,
    owner: str = SAM,
    tier: str = "standard",
    stage: Stage | None = None,
    outcome: Outcome | None = None,
    closed: datetime | None = None,
    country: str | None = "DE",
) -> str:
    case_id = str(uuid.uuid4())
    customer = f"c-{uuid.uuid4().hex[:8]}"
    repo.record_case_opened(
        CaseOpened(
            CloseCustomerInput(case_id, customer, trigger, churn, "standard", "x"),
            f"close-customer-{customer}",
            "run",
            _entry("case_opened", opened),
        ),
        owner=owner,
        value_tier=tier,
        country=country,
    )
    if stage is not None or outcome is not None:
        at = closed or opened + timedelta(days=1)
        repo.apply_case_change(CaseChange(case_id, _entry("change", at), stage, outcome))
    return case_id


def test_opened_funnel_and_win_back_at_their_edges(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    october, november = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    _case(repo, october, outcome=Outcome.RETAINED)  # the period's first instant: in
    _case(repo, october + timedelta(days=3), Trigger.PAYMENT_ARREARS, ChurnClass.NON_MALICIOUS,
          outcome=Outcome.REJECTED)  # fmt: skip
    _case(repo, november, Trigger.PAYMENT_ARREARS, ChurnClass.NON_MALICIOUS, owner=LI,
          tier="key", outcome=Outcome.RETAINED)  # fmt: skip
    _case(repo, november + timedelta(days=1), outcome=Outcome.CANCELLED)
    _case(repo, november + timedelta(days=2), stage=Stage.RETENTION)  # archived, not ended
    _case(repo, november + timedelta(days=3), outcome=Outcome.DELETED,
          closed=november + timedelta(days=20))  # fmt: skip
    _case(repo, november + timedelta(days=4), stage=Stage.WIN_BACK)  # still open
    _case(repo, november + timedelta(days=5), Trigger.DATA_QUALITY,
          outcome=Outcome.INVALIDATED)  # fmt: skip
    _case(repo, NOW, outcome=Outcome.RETAINED)  # the period's end: out
    _case(repo, october - timedelta(seconds=1), outcome=Outcome.RETAINED)  # before: out
    insights = Insights(db)
    f = InsightsFilter(october, NOW)

    opened = insights.opened(f)
    assert opened == [
        {"month": "2026-10", "trigger": "inactivity", "churn_class": "natural", "cases": 1},
        {"month": "2026-10", "trigger": "payment_arrears", "churn_class": "non_malicious",
         "cases": 1},
        {"month": "2026-11", "trigger": "data_quality", "churn_class": "natural", "cases": 1},
        {"month": "2026-11", "trigger": "inactivity", "churn_class": "natural", "cases": 4},
        {"month": "2026-11", "trigger": "payment_arrears", "churn_class": "non_malicious",
         "cases": 1},
    ]  # fmt: skip

    funnel = insights.funnel(f)
    assert (funnel.opened, funnel.won_back, funnel.rejected, funnel.cancelled) == (8, 2, 1, 1)
    assert (funnel.archived, funnel.deleted, funnel.reactivated) == (2, 1, 0)
    assert (funnel.merged, funnel.invalidated) == (0, 1)
    assert funnel.rates()["won_back"] == round(2 / 8, 4)

    by_trigger = {r["key"]: r for r in insights.win_back(f, Dimension.TRIGGER)}
    assert by_trigger["inactivity"] == {"key": "inactivity", "ended": 3, "won_back": 1,
                                        "rate": round(1 / 3, 4)}  # fmt: skip
    assert by_trigger["payment_arrears"]["rate"] == 0.5
    by_owner = {r["key"]: r["ended"] for r in insights.win_back(f, Dimension.OWNER)}
    assert by_owner == {SAM: 4, LI: 1}
    only_li = InsightsFilter(october, NOW, owner=LI)
    assert insights.funnel(only_li).opened == 1
    key = InsightsFilter(october, NOW, value_tier="key", trigger="payment_arrears")
    assert insights.win_back(key, Dimension.VALUE_TIER) == [
        {"key": "key", "ended": 1, "won_back": 1, "rate": 1.0}
    ]
    assert insights.deletions(f) == [{"month": "2026-11", "deleted": 1}]
    assert insights.funnel(InsightsFilter(october, NOW, country="DE")).opened == 8
    assert insights.funnel(InsightsFilter(october, NOW, country="CN")).opened == 0
    empty = InsightsFilter(NOW, NOW + timedelta(days=1), churn_class="malicious")
    assert insights.funnel(empty).rates()["won_back"] == 0.0
    db.engine.dispose()


def test_country_and_month_are_the_customers_and_utcs(database_url: str) -> None:
    """A case opened at 00:30 on 1 December in Shanghai opened in November (UTC); the
    country is the customer's when the case opened."""
    db = Database.from_url(database_url)
    repo = read_model(db)
    shanghai = timezone(timedelta(hours=8))
    _case(repo, datetime(2026, 12, 1, 0, 30, tzinfo=shanghai), country="CN")
    _case(repo, datetime(2026, 12, 1, 0, 30, tzinfo=UTC), country="CN")
    _case(repo, datetime(2026, 11, 15, tzinfo=UTC), country=None)  # the CRM knew none
    insights = Insights(db)
    f = InsightsFilter(datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert [(r["month"], r["cases"]) for r in insights.opened(f)] == [
        ("2026-11", 2),
        ("2026-12", 1),
    ]
    china = InsightsFilter(f.since, f.until, country="CN")
    assert [(r["month"], r["cases"]) for r in insights.opened(china)] == [
        ("2026-11", 1),
        ("2026-12", 1),
    ]
    # A period that ends mid-month counts the cases before its end only.
    half = InsightsFilter(f.since, datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    assert insights.funnel(half).opened == 1
    db.engine.dispose()


def test_holds_standing_by_age(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    now = datetime.now(UTC)
    for days, owner in ((1, SAM), (29, SAM), (31, LI), (200, SAM), (400, SAM)):
        case_id = _case(repo, now - timedelta(days=500), owner=owner, stage=Stage.RETENTION)
        placed = now - timedelta(days=days)
        repo.record_hold_placed(
            HoldPlaced(str(uuid.uuid4()), case_id, "audit", None, "kim",
                       _entry("legal_hold_placed", placed))
        )  # fmt: skip
    insights = Insights(db)
    assert insights.holds(now) == [
        {"age": "under 30 days", "holds": 2},
        {"age": "30 to 90 days", "holds": 1},
        {"age": "90 days to a year", "holds": 1},
        {"age": "over a year", "holds": 1},
    ]
    assert [h["holds"] for h in insights.holds(now, owner=LI)] == [0, 1, 0, 0]
    db.engine.dispose()


def test_approvals_on_time_late_escalated_and_tasks_per_owner(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    opened = datetime(2026, 11, 2, tzinfo=UTC)
    due = opened + timedelta(days=7)

    def approval(decided: datetime | None, escalate: bool = False, by: str = SAM) -> None:
        case_id = _case(repo, opened, owner=by, stage=Stage.APPROVAL)
        task_id = str(uuid.uuid4())
        repo.open_task(OpenTask(task_id, case_id, "c", TaskKind.APPROVAL, by, due,
                                _entry("task_opened", opened)))  # fmt: skip
        if escalate:
            escalation = _entry("task_escalated", due)
            repo.reassign_task(
                TaskReassigned(task_id, "group:managers", escalation, escalated=True)
            )
        if decided is not None:
            repo.close_task(CloseTask(task_id, TaskStatus.DONE, _entry("task_decided", decided),
                                      TaskDecision.APPROVE, "ok", by))  # fmt: skip

    approval(due)  # exactly at the due date: on time
    approval(due - timedelta(days=1), by=LI)
    approval(due + timedelta(seconds=1))  # late
    approval(due + timedelta(days=2), escalate=True, by=GRACE)  # escalated, decided after
    approval(None)  # still open
    insights = Insights(db)
    f = InsightsFilter(opened, opened + timedelta(days=30))
    assert insights.approval_sla(f) == {"on_time": 2, "late": 1, "escalated": 1, "open": 1}
    per = {r["who"]: r for r in insights.tasks_per_owner(f)}
    assert per[SAM] == {"who": SAM, "open": 1, "decided": 2, "escalated": 0}
    assert per[GRACE] == {"who": GRACE, "open": 0, "decided": 1, "escalated": 1}
    assert per[LI]["decided"] == 1
    assert insights.approval_sla(InsightsFilter(opened, opened + timedelta(days=30), owner=LI)) == {
        "on_time": 1, "late": 0, "escalated": 0, "open": 0
    }  # fmt: skip
    db.engine.dispose()


def test_time_in_each_stage_and_the_customers_answers(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    opened = datetime(2026, 11, 2, tzinfo=UTC)
    hour = timedelta(hours=1)

    def staged(hours_in_win_back: int, answer: str | None, answered_after: int = 0) -> None:
        case_id = _case(repo, opened)
        for stage, at in (
            (Stage.WIN_BACK, opened),
            (Stage.NOTICE, opened + hours_in_win_back * hour),
        ):
            entered = AuditEntry(str(uuid.uuid4()), "x", "stage_entered", at, None,
                                 {"stage": str(stage)})  # fmt: skip
            repo.apply_case_change(CaseChange(case_id, entered, stage))
        closed = opened + (hours_in_win_back + 10) * hour
        repo.apply_case_change(CaseChange(case_id, _entry("case_closed", closed),
                                          Stage.CLOSED, Outcome.CANCELLED))  # fmt: skip
        if answer is not None:
            repo.append_audit(case_id, _entry(f"customer_{answer}", opened + answered_after * hour))

    staged(2, "stay", 1)
    staged(4, "object", 3)
    staged(6, "object", 5)
    staged(8, None)
    insights = Insights(db)
    f = InsightsFilter(opened, opened + timedelta(days=30))
    stages = {r["stage"]: r for r in insights.time_in_stage(f)}
    assert stages["win_back"] == {"stage": "win_back", "cases": 4, "median_hours": 5.0,
                                  "p90_hours": 8.0}  # fmt: skip
    assert stages["notice"]["median_hours"] == 10.0 and stages["notice"]["cases"] == 4
    answers = {r["answer"]: r for r in insights.answers(f)}
    assert answers["object"] == {"answer": "object", "answers": 2, "median_hours": 4.0,
                                 "p90_hours": 5.0}  # fmt: skip
    assert answers["stay"]["answers"] == 1 and "confirm_closure" not in answers
    db.engine.dispose()


def test_retention_load_by_category_and_year(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    opened = datetime(2025, 1, 2, tzinfo=UTC)

    def archived(clocks: list[tuple[DataCategory, int, bool]] | None, owner: str = SAM) -> None:
        case_id = _case(repo, opened, owner=owner)
        views = None
        if clocks is not None:
            views = [
                CategoryClock(category, datetime(year, 6, 1, tzinfo=UTC),
                              datetime(2026, 1, 1, tzinfo=UTC) if gone else None)
                for category, year, gone in clocks
            ]  # fmt: skip
        end = datetime(2029, 3, 1, tzinfo=UTC)
        repo.apply_case_change(CaseChange(case_id, _entry("stage_entered", opened), Stage.RETENTION,
                                          retention_end=end, category_clocks=views))  # fmt: skip

    archived([(DataCategory.CONTACT_DATA, 2027, False), (DataCategory.ACCOUNTING_RECORDS, 2035,
              False), (DataCategory.MARKETING_DATA, 2025, True)])  # fmt: skip
    archived([(DataCategory.CONTACT_DATA, 2027, False)], owner=LI)
    archived(None)  # one retention end for everything
    _case(repo, opened, outcome=Outcome.DELETED)  # gone: not archived now
    insights = Insights(db)
    assert insights.retention_load() == [
        {"category": "accounting_records", "year": 2035, "customers": 1},
        {"category": "all_categories", "year": 2029, "customers": 1},
        {"category": "contact_data", "year": 2027, "customers": 2},
    ]
    assert insights.retention_load(owner=LI) == [
        {"category": "contact_data", "year": 2027, "customers": 1}
    ]
    db.engine.dispose()
