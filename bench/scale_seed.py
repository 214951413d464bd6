"""The read model and the reference CRM of a grown system, written directly (no workflows).

Pages read rows, not workflows: the page figures need tables of the right size and shape,
not the processes that wrote them. Open cases wait on one task each (win-back or approval),
spread over OWNERS account managers and the account managers' queue, due from five days
ago to a month ahead; each has three audit events, two orders and an invoice in the CRM.
Archived customers sit in retention with a clock per data category spread over ten years
ahead, their two decided tasks kept; one in a hundred is under a legal hold.
"""

from __future__ import annotations

import random
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import Connection

from closeout.audit.models import AuditEvent
from closeout.cases import forecast
from closeout.cases.models import CaseRecord, LegalHoldRecord, TaskRecord
from closeout.crm.models import CrmCustomer, CrmInvoice, CrmOrder
from closeout.db import Database, table_of
from closeout.domain import (
    ACCOUNT_MANAGER_GROUP,
    DataCategory,
    Stage,
    TaskDecision,
    TaskKind,
    TaskStatus,
)

BATCH = 20_000
OWNERS = 50
# The signed-in account manager of the page figures owns one customer in OWNERS.
SIGNED_IN = "sam.okafor@example.com"
DAY = timedelta(days=1)
# Per data category, the share of the customer's retention end its clock runs.
CATEGORY_SHARE = {
    DataCategory.MARKETING_DATA: 0.0,
    DataCategory.CONTACT_DATA: 0.05,
    DataCategory.INTERACTION_HISTORY: 0.2,
    DataCategory.CONTRACTS: 0.5,
    DataCategory.ACCOUNTING_RECORDS: 1.0,
}


def owner_of(i: int) -> str:
    return SIGNED_IN if i % OWNERS == 0 else f"am{i % OWNERS:02d}@example.com"


@dataclass(frozen=True)
class Grown:
    """What was written: sizes, and ids the figures ask for."""

    open_cases: int
    archived: int
    rows: int
    signed_in_tasks: list[str]


def _progress(label: str, done: int, total: int) -> None:
    end = "\n" if done >= total else "\r"
    print(f"  {label:<10} {done:>9,}/{total:,}", end=end, file=sys.stderr, flush=True)


def _open_case(i: int, now: datetime, rng: random.Random) -> Iterator[tuple[Table, dict[str, Any]]]:
    cid, case_id, owner = f"o{i:07d}", f"case-o{i:07d}", owner_of(i)
    opened = now - DAY * rng.randint(1, 40)
    kind = TaskKind.WIN_BACK if i % 3 else TaskKind.APPROVAL
    stage = Stage.WIN_BACK if kind is TaskKind.WIN_BACK else Stage.APPROVAL
    tier = ("standard", "standard", "standard", "high", "key")[i % 5]
    yield table_of(CrmCustomer), {
        "id": cid, "name": f"Open Customer {i}", "email": f"{cid}@example.org", "phone": None,
        "owner": owner, "value_tier": tier, "locale": "en", "country": "DE",
        "status": "active", "created_at": opened - DAY * 900, "closed_at": None,
    }  # fmt: skip
    for k in range(2):
        yield table_of(CrmOrder), {"id": f"{cid}-o{k}", "customer_id": cid,
                                   "ordered_at": opened - DAY * (200 + k),
                                   "amount_cents": 10_000 + i % 997}  # fmt: skip
    yield table_of(CrmInvoice), {
        "id": f"{cid}-i", "customer_id": cid, "number": f"INV-{cid}",
        "issued_at": opened - DAY * 230, "due_at": opened - DAY * 200,
        "amount_cents": 12_000, "paid_at": opened - DAY * 205,
    }  # fmt: skip
    yield table_of(CaseRecord), {
        "id": case_id, "workflow_id": f"close-customer-{cid}", "run_id": str(uuid.UUID(int=i)),
        "customer_id": cid, "trigger": "inactivity", "churn_class": "natural",
        "evidence": {"inactive_days": 200 + i % 100}, "policy": "standard", "stage": stage,
        "outcome": None, "opened_by": "detection", "owner": owner, "value_tier": tier,
        "opened_at": opened, "updated_at": opened, "closed_at": None, "effective_at": None,
        "retention_end": None, "category_clocks": None, "next_deletion_at": None,
    }  # fmt: skip
    queued = i % 10 == 7
    yield table_of(TaskRecord), {
        "id": f"task-o{i:07d}", "case_id": case_id, "customer_id": cid, "kind": kind,
        "status": TaskStatus.OPEN, "assignee": ACCOUNT_MANAGER_GROUP if queued else owner,
        "created_at": opened, "due_at": now + DAY * rng.uniform(-5, 30), "note": None,
        "decision": None, "comment": None, "decided_by": None, "decided_at": None,
        "defer_until": None, "escalated_at": None,
    }  # fmt: skip
    for n, action in enumerate(("case_opened", "stage_entered", "task_opened")):
        yield table_of(AuditEvent), _audit(case_id, action, opened + n * timedelta(seconds=1))


def _archived(i: int, now: datetime, rng: random.Random) -> Iterator[tuple[Table, dict[str, Any]]]:
    cid, case_id, owner = f"a{i:07d}", f"case-a{i:07d}", owner_of(i)
    archived_at = now - DAY * rng.randint(1, 3650)
    end = now + DAY * rng.uniform(0.5, 3650)
    clocks, ends_at = [], []
    for category, share in CATEGORY_SHARE.items():
        ends = archived_at + (end - archived_at) * share
        ends_at.append(ends)
        clocks.append({"category": str(category), "ends_at": ends.isoformat(),
                       "deleted_at": ends.isoformat() if ends < now else None})  # fmt: skip
    kept = [ends for ends, c in zip(ends_at, clocks, strict=True) if c["deleted_at"] is None]
    yield table_of(CrmCustomer), {
        "id": cid, "name": f"Archived Customer {i}", "email": f"{cid}@example.org",
        "phone": None, "owner": owner, "value_tier": "standard", "locale": "en",
        "country": "DE", "status": "closed", "created_at": archived_at - DAY * 900,
        "closed_at": archived_at,
    }  # fmt: skip
    yield table_of(CaseRecord), {
        "id": case_id, "workflow_id": f"close-customer-{cid}", "run_id": str(uuid.UUID(int=i)),
        "customer_id": cid, "trigger": "payment_arrears", "churn_class": "non_malicious",
        "evidence": {"overdue_invoices": 3}, "policy": "standard", "stage": Stage.RETENTION,
        "outcome": None, "opened_by": "detection", "owner": owner, "value_tier": "standard",
        "opened_at": archived_at - DAY * 45, "updated_at": archived_at, "closed_at": None,
        "effective_at": archived_at, "retention_end": end, "category_clocks": clocks,
        "next_deletion_at": min(kept),
    }  # fmt: skip
    for n, (kind, decision) in enumerate(
        ((TaskKind.WIN_BACK, TaskDecision.FAILED), (TaskKind.APPROVAL, TaskDecision.APPROVE))
    ):
        at = archived_at - DAY * (40 - 10 * n)
        yield table_of(TaskRecord), {
            "id": f"task-a{i:07d}-{n}", "case_id": case_id, "customer_id": cid, "kind": kind,
            "status": TaskStatus.DONE, "assignee": owner, "created_at": at - DAY,
            "due_at": at + DAY, "note": None, "decision": decision, "comment": None,
            "decided_by": owner, "decided_at": at, "defer_until": None, "escalated_at": None,
        }  # fmt: skip
    if i % 100 == 42:
        yield table_of(LegalHoldRecord), {
            "id": f"hold-a{i:07d}", "case_id": case_id, "reason": "tax audit",
            "reference": f"AUD-{i}", "placed_by": "kim.compliance@example.com",
            "placed_at": archived_at, "released_by": None, "released_at": None,
            "release_reason": None, "review_at": now + DAY * (i % 400),
            "review_reminded_at": None,
        }  # fmt: skip


_SEQ = iter(range(1_000_000_000, 10**12))


def _audit(case_id: str, action: str, at: datetime) -> dict[str, Any]:
    # Not chained: the pages show events, the chain's walk is not measured here.
    return {
        "id": str(uuid.uuid4()), "seq": next(_SEQ), "case_id": case_id, "at": at,
        "actor": "system", "action": action, "reason": None, "details": {},
        "content_sha256": "0" * 64, "prev_hash": "0" * 64, "hash": "0" * 64,
    }  # fmt: skip


# Parents before children, so foreign keys hold at every flush.
_ORDER = [table_of(m) for m in (CrmCustomer, CrmOrder, CrmInvoice, CaseRecord, TaskRecord,
                                AuditEvent, LegalHoldRecord)]  # fmt: skip


def _write(conn: Connection, batches: dict[Table, list[dict[str, Any]]]) -> int:
    written = 0
    for table in _ORDER:
        rows = batches.get(table)
        if rows:
            conn.execute(table.insert(), rows)
            written += len(rows)
            rows.clear()
    return written


def grow(db: Database, open_cases: int, archived: int, seed: int = 14) -> Grown:
    """Write `open_cases` waiting on a task and `archived` customers in retention."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    written, pending = 0, 0
    batches: dict[Table, list[dict[str, Any]]] = {}
    signed_in: list[str] = []
    kinds = (("open", open_cases, _open_case), ("archived", archived, _archived))
    for label, count, rows_of in kinds:
        for i in range(count):
            for table, row in rows_of(i, now, rng):
                batches.setdefault(table, []).append(row)
                pending += 1
                opened = table is table_of(TaskRecord) and row["status"] == TaskStatus.OPEN
                if opened and row["assignee"] == SIGNED_IN:
                    signed_in.append(row["id"])
            if pending >= BATCH or i == count - 1:
                with db.transaction() as conn:
                    written += _write(conn, batches)
                pending = 0
                _progress(label, i + 1, count)
    # The deletions due per day, as the read model's writes would have counted them.
    with db.transaction() as conn:
        forecast.rebuild(conn)
    maintenance = "ANALYZE" if db.engine.dialect.name == "sqlite" else "VACUUM ANALYZE"
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(maintenance))
    return Grown(open_cases, archived, written, signed_in)


def grown_before(db: Database, open_cases: int, archived: int) -> Grown | None:
    """The database grown by an earlier run at these sizes (`--data`), or None."""
    cases, tasks = table_of(CaseRecord), table_of(TaskRecord)
    with db.transaction() as conn:
        found = conn.execute(select(func.count()).select_from(cases)).scalar_one()
        if found != open_cases + archived:
            return None
        signed_in = conn.execute(
            select(tasks.c.id)
            .where(tasks.c.assignee == SIGNED_IN, tasks.c.status == TaskStatus.OPEN)
            .order_by(tasks.c.id)
        ).scalars()
        return Grown(open_cases, archived, 0, list(signed_in))
