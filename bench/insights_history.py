"""What the insights read beside the cases, written for `bench/insights.py --history`: each
case's stage entries and closing in the audit trail, the customers' answers, its win-back and
approval tasks, and the category clocks of the customers archived now; the hand-written
queries of the views that read them."""

from __future__ import annotations

import json
import random
import statistics
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from closeout.audit.models import AuditEvent
from closeout.cases.models import TaskRecord
from closeout.db import table_of
from closeout.domain import DataCategory, Outcome, Stage, TaskKind

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
_ANSWERS = ["customer_stay", "customer_object", "customer_confirm", "customer_download"]
_HASH = "0" * 64


class History:
    """Rows for the audit trail and the tasks, numbered in one sequence across batches."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seq = 0

    def _event(self, case_id: str, at: datetime, action: str, **details: Any) -> dict[str, Any]:
        self.seq += 1
        return {
            "id": str(uuid.uuid4()), "seq": self.seq, "case_id": case_id, "at": at,
            "actor": "system", "action": action, "reason": None, "details": details,
            "content_sha256": _HASH, "prev_hash": _HASH, "hash": _HASH, "erased_at": None,
        }  # fmt: skip

    def of(self, case: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(audit events, tasks) of one case; sets its category clocks if archived now."""
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
        events, tasks = [], []
        for stage in passed:
            events.append(self._event(case_id, at, "stage_entered", stage=str(stage)))
            if stage in (Stage.WIN_BACK, Stage.APPROVAL):
                kind = TaskKind.WIN_BACK if stage is Stage.WIN_BACK else TaskKind.APPROVAL
                tasks.append(self._task(case, kind, at))
            at += timedelta(hours=rng.uniform(1, 24 * 20))
        if outcome is not None:
            events.append(self._event(case_id, at, "case_closed", outcome=str(outcome)))
        if rng.random() < 0.2:
            answered = case["opened_at"] + timedelta(hours=rng.uniform(1, 24 * 14))
            events.append(self._event(case_id, answered, rng.choice(_ANSWERS)))
        if outcome is None and case["stage"] == Stage.RETENTION:
            ends = {c: at + timedelta(days=rng.randint(0, 3650)) for c in DataCategory}
            case["category_clocks"] = [
                {"category": str(c), "ends_at": end.isoformat(), "deleted_at": None}
                for c, end in ends.items()
            ]
            case["retention_end"] = max(ends.values())
        return events, tasks

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


PERIOD = (
    "c.opened_month >= :first_month AND c.opened_month <= :last_month "
    "AND c.opened_at >= :since AND c.opened_at < :until"
)


def _seconds(dialect: str, later: str, earlier: str) -> str:
    if dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"(julianday({later}) - julianday({earlier})) * 86400"


def hand_written(dialect: str) -> dict[str, str]:
    """The views that read beside the cases, asked by hand."""
    answers = ", ".join(f"'{a}'" for a in _ANSWERS)
    stage = (
        "e.details ->> 'stage'" if dialect == "postgresql" else "json_extract(e.details, '$.stage')"
    )
    return {
        "answers": f"SELECT e.action, {_seconds(dialect, 'e.at', 'c.opened_at')} "
        f"FROM audit_event e JOIN closure_case c ON c.id = e.case_id "
        f"WHERE {PERIOD} AND e.action IN ({answers})",
        "time_in_stage": f"SELECT stage, {_seconds(dialect, 'next_at', 'at')} FROM ("
        f"SELECT CASE WHEN e.action = 'stage_entered' THEN {stage} END AS stage, e.at, "
        "LEAD(e.at) OVER (PARTITION BY e.case_id ORDER BY e.seq) AS next_at "
        "FROM audit_event e JOIN closure_case c ON c.id = e.case_id "
        f"WHERE {PERIOD} AND e.action IN ('stage_entered', 'case_closed')) s "
        "WHERE stage IS NOT NULL AND next_at IS NOT NULL",
        "approval_sla": "SELECT SUM(CASE WHEN t.escalated_at IS NULL AND t.decided_at <= t.due_at "
        "THEN 1 ELSE 0 END), SUM(CASE WHEN t.escalated_at IS NULL AND t.decided_at > t.due_at "
        "THEN 1 ELSE 0 END), SUM(CASE WHEN t.escalated_at IS NOT NULL THEN 1 ELSE 0 END) "
        "FROM case_task t JOIN closure_case c ON c.id = t.case_id "
        f"WHERE {PERIOD} AND t.kind IN ('approval', 'second_approval')",
        "tasks": "SELECT COALESCE(t.decided_by, t.assignee), COUNT(*) FROM case_task t "
        f"JOIN closure_case c ON c.id = t.case_id WHERE {PERIOD} GROUP BY 1",
        "retention_load": "SELECT category_clocks, retention_end FROM closure_case "
        "WHERE outcome IS NULL AND stage IN ('retention', 'deletion')",
    }


def finish(view: str, rows: list[Any]) -> object:
    """What a hand-written query's rows still need in Python, as the view does it."""
    if view in ("answers", "time_in_stage"):
        spans: dict[str, list[float]] = defaultdict(list)
        for key, seconds in rows:
            spans[key].append(float(seconds))
        return {
            k: (statistics.median(v), sorted(v)[-(-9 * len(v) // 10) - 1]) for k, v in spans.items()
        }
    if view == "retention_load":
        load: dict[tuple[str, int], int] = defaultdict(int)
        for clocks, _end in rows:
            # SQLite gives the JSON column as text to a hand-written query.
            for clock in (json.loads(clocks) if isinstance(clocks, str) else clocks) or []:
                load[(clock["category"], datetime.fromisoformat(clock["ends_at"]).year)] += 1
        return load
    return rows


def write(conn: Connection, events: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
    if events:
        conn.execute(table_of(AuditEvent).insert(), events)
    if tasks:
        conn.execute(table_of(TaskRecord).insert(), tasks)
