"""The insights' views at scale, against the hand-written aggregate query each one needs.

    python bench/insights.py [--cases 1000000] [--db sqlite postgresql]

The read model's cases (and a legal hold on one in a hundred) are written directly: the views
read rows, not workflows. Cases opened over two years, spread over triggers, churn classes,
value tiers, fifty owners and every outcome. Each view is timed over the whole two years
(the median of three runs) on SQLite and on PostgreSQL, beside the same question written by
hand in SQL. With `--history` each case also gets the facts the read model keeps of its
history (closeout/cases/facts.py: the stages it left, a customer's answer for one in five, its
win-back and approval tasks, counted per day too) and, archived now, its category clocks; and
the views that read them are timed too (the audit trail and task rows themselves are not
written: no view reads them). Targets: each view ≤ 1 s, and at
most 3 times its hand-written query. The last line is `ratio=<the worst view / hand-written
ratio>`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import text

from bench.insights_history import History, finish, write, write_counts
from bench.insights_history import hand_written as history_questions
from closeout.cases.models import CaseRecord, LegalHoldRecord, opened_month_of
from closeout.db import Database, table_of, upgrade
from closeout.domain import ChurnClass, Outcome, Stage, Trigger
from closeout.insights import Dimension, Insights, InsightsFilter
from tests.postgres import running_postgres

BATCH = 20_000
OWNER = "owner-07@example.com"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
SPAN = timedelta(days=730)
ENDS = [None, Outcome.RETAINED, Outcome.REJECTED, Outcome.CANCELLED, Outcome.DELETED,
        Outcome.DELETED, Outcome.REACTIVATED, None]  # fmt: skip


def _case(i: int, rng: random.Random) -> dict[str, Any]:
    opened = NOW - SPAN * rng.random()
    outcome = rng.choice(ENDS)
    stage = Stage.CLOSED if outcome else rng.choice([Stage.WIN_BACK, Stage.RETENTION])
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "workflow_id": f"close-customer-b{i}",
        "run_id": "run",
        "customer_id": f"b{i:07d}",
        "trigger": str(rng.choice(list(Trigger))),
        "churn_class": str(rng.choice(list(ChurnClass))),
        "evidence": {},
        "policy": "standard",
        "stage": str(stage),
        "outcome": str(outcome) if outcome else None,
        "opened_by": "bench",
        "owner": f"owner-{i % 50:02d}@example.com",
        "value_tier": rng.choice(["standard", "standard", "high", "key"]),
        "country": rng.choice(["DE", "DE", "CN", "FR", "US"]),
        "opened_at": opened,
        "opened_month": opened_month_of(opened),
        "updated_at": opened,
        "closed_at": opened + timedelta(days=rng.randint(1, 90)) if outcome else None,
        "category_clocks": None,
        "retention_end": None,
    }


def load(db: Database, cases: int, seed: int = 3, with_history: bool = False) -> None:
    rng = random.Random(seed)
    history = History(random.Random(seed + 1))
    cases_table, holds_table = table_of(CaseRecord), table_of(LegalHoldRecord)
    for start in range(0, cases, BATCH):
        with db.engine.begin() as conn:  # a batch a transaction: SQLite's log stays small
            rows = [_case(i, rng) for i in range(start, min(start + BATCH, cases))]
            if with_history:
                found = []
                for row in rows:
                    found += history.of(row)[2]
            conn.execute(cases_table.insert(), rows)
            if with_history:
                write(conn, found)
            holds = [
                {
                    "id": str(uuid.uuid4()),
                    "case_id": r["id"],
                    "reason": "bench",
                    "placed_by": "bench",
                    "placed_at": NOW - timedelta(days=rng.randint(0, 700)),
                    "released_at": None if rng.random() < 0.7 else NOW,
                }
                for r in rows
                if rng.random() < 0.01
            ]
            if holds:
                conn.execute(holds_table.insert(), holds)
    if with_history:
        with db.engine.begin() as conn:
            write_counts(conn, history)
    maintenance = "ANALYZE" if db.engine.dialect.name == "sqlite" else "VACUUM ANALYZE"
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(maintenance))


def _month(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM')"
    return f"substr({column}, 1, 7)"


def hand_written(dialect: str) -> dict[str, str]:
    """Each view's question, written by hand as one would who knows the schema: the period
    read as a range of opened months first (the insights' covering index), then of moments."""
    period = (
        "opened_month >= :first_month AND opened_month <= :last_month "
        "AND opened_at >= :since AND opened_at < :until"
    )
    won = "SUM(CASE WHEN outcome = 'retained' THEN 1 ELSE 0 END)"
    return {
        "opened": "SELECT opened_month, trigger, churn_class, COUNT(*) "
        f"FROM closure_case WHERE {period} GROUP BY 1, 2, 3",
        "funnel": "SELECT COUNT(*), "
        + ", ".join(
            f"SUM(CASE WHEN outcome = '{o}' THEN 1 ELSE 0 END)"
            for o in (
                "retained",
                "rejected",
                "cancelled",
                "deleted",
                "reactivated",
                "merged",
                "invalidated",
            )
        )
        + ", SUM(CASE WHEN outcome IN ('deleted', 'reactivated') OR (outcome IS NULL AND "
        f"stage IN ('retention', 'deletion')) THEN 1 ELSE 0 END) FROM closure_case WHERE {period}",
        "win_back": f"SELECT trigger, COUNT(*), {won} FROM closure_case "
        f"WHERE {period} AND outcome IS NOT NULL AND trigger <> 'data_quality' GROUP BY trigger",
        "win_back_by_owner": f"SELECT owner, COUNT(*), {won} FROM closure_case "
        f"WHERE {period} AND outcome IS NOT NULL AND trigger <> 'data_quality' GROUP BY owner",
        "one_owner": "SELECT opened_month, trigger, churn_class, COUNT(*) FROM closure_case "
        f"WHERE {period} AND owner = :owner GROUP BY 1, 2, 3",
        "one_country": "SELECT COUNT(*), SUM(CASE WHEN outcome = 'retained' THEN 1 ELSE 0 END) "
        f"FROM closure_case WHERE {period} AND country = :country",
        "deletions": f"SELECT {_month(dialect, 'closed_at')}, COUNT(*) FROM closure_case "
        f"WHERE {period} AND outcome = 'deleted' GROUP BY 1",
        "holds": "SELECT CASE WHEN h.placed_at > :d30 THEN 1 WHEN h.placed_at > :d90 THEN 2 "
        "WHEN h.placed_at > :d365 THEN 3 ELSE 4 END, COUNT(*) FROM legal_hold h "
        "JOIN closure_case c ON c.id = h.case_id WHERE h.released_at IS NULL GROUP BY 1",
    }


def _median(run: Callable[[], object]) -> float:
    took = []
    for _ in range(3):
        started = time.perf_counter()
        run()
        took.append(time.perf_counter() - started)
    return statistics.median(took)


def measure(name: str, url: str, cases: int, with_history: bool = False) -> float:
    upgrade(url)
    db = Database.from_url(url)
    started = time.perf_counter()
    load(db, cases, with_history=with_history)
    print(f"[{name}] {cases:,} cases written in {time.perf_counter() - started:.1f} s", flush=True)
    insights = Insights(db)
    f = InsightsFilter(NOW - SPAN, NOW + timedelta(days=1))
    views: dict[str, Callable[[], object]] = {
        "opened": lambda: insights.opened(f),
        "funnel": lambda: insights.funnel(f),
        "win_back": lambda: insights.win_back(f, Dimension.TRIGGER),
        "win_back_by_owner": lambda: insights.win_back(f, Dimension.OWNER),
        "one_owner": lambda: insights.opened(replace(f, owner=OWNER)),
        "one_country": lambda: insights.funnel(replace(f, country="CN")),
        "deletions": lambda: insights.deletions(f),
        "holds": lambda: insights.holds(NOW),
        "answers": lambda: insights.answers(f),
        "time_in_stage": lambda: insights.time_in_stage(f),
        "stages_one_owner": lambda: insights.time_in_stage(replace(f, owner=OWNER)),
        "stages_one_country": lambda: insights.time_in_stage(replace(f, country="CN")),
        "approval_sla": lambda: insights.approval_sla(f),
        "tasks": lambda: insights.tasks_per_owner(f),
        "retention_load": lambda: insights.retention_load(),
    }
    params = {
        "first_month": opened_month_of(f.since),
        "last_month": opened_month_of(f.until),
        "owner": OWNER,
        "country": "CN",
        "since": f.since,
        "since_day": f.since.date(),
        "until_day": f.until.date(),
        "until": f.until,
        "d30": NOW - timedelta(days=30),
        "d90": NOW - timedelta(days=90),
        "d365": NOW - timedelta(days=365),
    }
    worst = 0.0
    dialect = db.engine.dialect.name
    questions = hand_written(dialect) | (history_questions(dialect) if with_history else {})
    with db.engine.connect() as conn:
        for view, sql in questions.items():
            query = text(sql)
            used = {k: v for k, v in params.items() if f":{k}" in sql}
            ours = _median(views[view])

            def by_hand(q: Any = query, p: dict[str, Any] = used, v: str = view) -> object:
                return finish(v, list(conn.execute(q, p).all()))

            hand = _median(by_hand)
            worst = max(worst, ours / hand)
            print(f"[{name}] {view:<17} {ours:6.3f} s   hand-written {hand:6.3f} s   "
                  f"ratio {ours / hand:5.2f}", flush=True)  # fmt: skip
    db.engine.dispose()
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])  # fmt: skip
    parser.add_argument("--history", action="store_true",
                        help="also each case's audit trail, tasks and category clocks, and the "
                        "views that read them")  # fmt: skip
    args = parser.parse_args()
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" in args.db:
            ratios.append(
                measure("sqlite", f"sqlite:///{tmp}/insights.db", args.cases, args.history)
            )
        if "postgresql" in args.db:
            with running_postgres() as server:
                with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                    conn.execute('CREATE DATABASE "insights"')
                ratios.append(measure("postgresql", f"{server}/insights", args.cases, args.history))
    print(f"ratio={max(ratios):.2f}")


if __name__ == "__main__":
    main()
