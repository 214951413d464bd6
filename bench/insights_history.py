"""What the insights read beside the cases, made for `bench/insights.py --history`: each case's
stages, a customer's answer, its win-back and approval tasks, and the category clocks of the
customers archived now, as the facts the read model keeps of them as they happen
(closeout/cases/facts.py), counted per day too; the hand-written queries of the views that
read them."""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from closeout.cases import facts
from closeout.cases.models import InsightFact, RetentionLoad
from closeout.db import table_of
from closeout.domain import DataCategory, Outcome, Stage, TaskKind
from closeout.insights import Band, percentile_hours

# The stages a case went through, by how it ended (None: still open, by its stage).
_PASSED = {
    Outcome.RETAINED: [Stage.WIN_BACK],
    Outcome.CANCELLED: [Stage.WIN_BACK, Stage.NOTICE],
    Outcome.REJECTED: [Stage.WIN_BACK, Stage.NOTICE, Stage.APPROVAL],
    Outcome.DELETED: [Stage.WIN_BACK, Stage.NOTICE, Stage.APPROVAL, Stage.AWAITING_EFFECTIVE_DATE,
                      Stage.BACKUP, Stage.REVOKE_ACCESS, Stage.ARCHIVE, Stage.RETENTION,
                      Stage.DELETION],
}  # fmt: skip
_PASSED[Outcome.REACTIVATED] = _PASSED[Outcome.DELETED][:-1]
_ANSWERS = list(facts.ANSWERS)
_HASH = "0" * 64


class History:
    """Rows for the audit trail, the tasks and the insights' facts, numbered in one sequence
    across batches; the retention load counted as it goes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seq = 0
        self.load: Counter[tuple[str, str, int]] = Counter()

    def _event(self, case_id: str, at: datetime, action: str, **details: Any) -> dict[str, Any]:
        self.seq += 1
        return {
            "id": str(uuid.uuid4()), "seq": self.seq, "case_id": case_id, "at": at,
            "actor": "system", "action": action, "reason": None, "details": details,
            "content_sha256": _HASH, "prev_hash": _HASH, "hash": _HASH, "erased_at": None,
        }  # fmt: skip

    def of(
        self, case: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """(audit events, tasks, facts) of one case; sets its category clocks if archived."""
        rng, case_id, at = self.rng, case["id"], case["opened_at"]
        outcome = Outcome(case["outcome"]) if case["outcome"] else None
        if outcome is None:
            passed = (
                _PASSED[Outcome.REACTIVATED]
                if case["stage"] == Stage.RETENTION
                else [Stage.WIN_BACK]
            )
        else:
            passed = _PASSED.get(outcome, [Stage.WIN_BACK])
        events, tasks, spans = [], [], []
        for n, stage in enumerate(passed):
            events.append(self._event(case_id, at, "stage_entered", stage=str(stage)))
            if stage in (Stage.WIN_BACK, Stage.APPROVAL):
                kind = TaskKind.WIN_BACK if stage is Stage.WIN_BACK else TaskKind.APPROVAL
                tasks.append(self._task(case, kind, at))
            left = at + timedelta(hours=rng.uniform(1, 24 * 20))
            if outcome is not None or n < len(passed) - 1:
                spans.append(
                    facts.span(case_id, case, "stage", str(stage), (left - at).total_seconds())
                )
            at = left
        if outcome is not None:
            events.append(self._event(case_id, at, "case_closed", outcome=str(outcome)))
        if rng.random() < 0.2:
            took = timedelta(hours=rng.uniform(1, 24 * 14))
            answer = rng.choice(_ANSWERS)
            events.append(self._event(case_id, case["opened_at"] + took, answer))
            spans.append(
                facts.span(case_id, case, "answer", facts.ANSWERS[answer], took.total_seconds())
            )
        if outcome is None and case["stage"] == Stage.RETENTION:
            ends = {c: at + timedelta(days=rng.randint(0, 3650)) for c in DataCategory}
            case["category_clocks"] = [
                {"category": str(c), "ends_at": end.isoformat(), "deleted_at": None}
                for c, end in ends.items()
            ]
            case["retention_end"] = max(ends.values())
        for category, year in facts.load_keys(case):
            self.load[(case["owner"] or "", category, year)] += 1
        spans += [facts.task_fact(t, case) for t in tasks]
        return events, tasks, spans

    def load_rows(self) -> list[dict[str, Any]]:
        return [
            {"owner": o, "category": c, "year": y, "customers": n}
            for (o, c, y), n in self.load.items()
        ]

    def _task(self, case: dict[str, Any], kind: TaskKind, at: datetime) -> dict[str, Any]:
        rng = self.rng
        due = at + timedelta(days=7)
        late, escalated = rng.random() < 0.2, rng.random() < 0.1
        decided = due + timedelta(days=rng.uniform(0.1, 5)) if late else at + timedelta(days=2)
        return {
            "id": str(uuid.uuid4()), "case_id": case["id"], "customer_id": case["customer_id"],
            "kind": str(kind), "status": "done", "assignee": case["owner"], "created_at": at,
            "due_at": due, "note": None, "decision": "approve", "comment": None,
            "decided_by": case["owner"], "decided_at": decided, "defer_until": None,
            "escalated_at": due if escalated else None,
        }  # fmt: skip


def hand_written(dialect: str) -> dict[str, str]:
    """The views that read beside the cases, asked by hand of the facts' counts per day: of
    every case, or of one owner's or one country's."""
    days = "day >= :since_day AND day < :until_day"
    every = f"dimension = '' AND value = '' AND {days}"
    bands = "SELECT name, band, SUM(facts), MIN(low), MAX(high) FROM insight_day "
    return {
        "answers": f"{bands} WHERE kind = 'answer' AND {every} GROUP BY name, band",
        "time_in_stage": f"{bands} WHERE kind = 'stage' AND {every} GROUP BY name, band",
        "stages_one_owner": f"{bands} WHERE kind = 'stage' AND dimension = 'owner' "
        f"AND value = :owner AND {days} GROUP BY name, band",
        "stages_one_country": f"{bands} WHERE kind = 'stage' AND dimension = 'country' "
        f"AND value = :country AND {days} GROUP BY name, band",
        "approval_sla": "SELECT "
        "SUM(CASE WHEN NOT escalated AND decided AND NOT late THEN facts ELSE 0 END), "
        "SUM(CASE WHEN NOT escalated AND decided AND late THEN facts ELSE 0 END), "
        "SUM(CASE WHEN escalated THEN facts ELSE 0 END), "
        "SUM(CASE WHEN NOT escalated AND NOT decided THEN facts ELSE 0 END) FROM insight_day "
        f"WHERE kind = 'task' AND name IN ('approval', 'second_approval') AND {every}",
        "tasks": "SELECT who, SUM(CASE WHEN decided THEN 0 ELSE facts END), "
        "SUM(CASE WHEN decided THEN facts ELSE 0 END), "
        "SUM(CASE WHEN escalated THEN facts ELSE 0 END) "
        f"FROM insight_day WHERE kind = 'task' AND {every} GROUP BY who",
        "retention_load": "SELECT category, year, SUM(customers) FROM retention_load "
        "GROUP BY category, year",
    }


def finish(view: str, rows: list[Any]) -> object:
    """What a hand-written query's rows still need in Python, as the view does it."""
    if view in ("answers", "time_in_stage", "stages_one_owner", "stages_one_country"):
        spans: dict[str, list[Band]] = defaultdict(list)
        for name, _band, n, low, high in sorted(rows, key=lambda r: (r[0], r[1])):
            spans[name].append(Band(int(n), float(low), float(high)))
        return {name: percentile_hours(bands) for name, bands in spans.items()}
    return rows


def write(conn: Connection, found: list[dict[str, Any]]) -> None:
    """The facts of a batch of cases (their audit events and tasks are not written: no view
    reads them)."""
    if found:
        conn.execute(table_of(InsightFact).insert(), found)


def write_counts(conn: Connection, history: History) -> None:
    """The retention load and the facts counted per day, once every case is written."""
    rows = history.load_rows()
    if rows:
        conn.execute(table_of(RetentionLoad).insert(), rows)
    facts.recount_days(conn)
