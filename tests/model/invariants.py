"""What must hold of a case at rest, read from the read model, the CRM, the archive store,
the outbox, the mail sink and the audit chain — never from the model's own bookkeeping alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select

from closeout.archive import archive_store_from, customer_keys
from closeout.audit import chain
from closeout.audit.models import AuditEvent
from closeout.cases.models import (
    ArchiveBundleRecord,
    CaseRecord,
    LegalHoldRecord,
    NoticeRecord,
    TaskRecord,
)
from closeout.certificates.models import DeletionCertificate
from closeout.contracts import CaseStatus
from closeout.crm.models import CATEGORY_TABLES, RESTORED_TABLES
from closeout.crm.reference import ReferenceCrm
from closeout.domain import DataCategory, NoticeKind, Stage, TaskStatus
from tests.model.world import CaseWorld

# Deleting the customer's data, wholly or by category: never under a hold, never unbacked.
DELETIONS = ("categories_deleted", "customer_data_deleted")
# Steps that need a verified backup before them.
NEED_BACKUP = ("access_revoked", "customer_archived", *DELETIONS)
CATEGORY_OF = {table: c for c, tables in CATEGORY_TABLES.items() for table in tables}
# Customer notices sent at most once per case; a data export goes out once per request.
ONCE_PER_CASE = frozenset(NoticeKind) - {NoticeKind.DATA_EXPORT}


@dataclass(frozen=True)
class Observed:
    """Everything the invariants read, taken at one moment with the case at rest."""

    status: CaseStatus
    actions: list[tuple[int, str, Any, dict[str, Any]]]  # (seq, action, at, details)
    case_row: dict[str, Any]
    tasks: list[tuple[str, str, str, str | None, str | None]]
    holds: list[tuple[str, bool]]
    notices: list[tuple[str, str, str, str]]  # (id, kind, status, message_id)
    bundles: list[tuple[str, str | None, bool, bool]]  # (id, category, verified, deleted)
    bundle_counts: dict[str, dict[str, int]]  # live bundles' record counts
    whole_counts: dict[str, int]  # the whole-customer backup's record counts
    certificates: int
    remaining: dict[str, int]
    grants_none: bool
    profile_status: str | None
    store_keys: list[str]
    chain_intact: bool
    chain_events: int
    mail_ids: Counter[str] = field(default_factory=Counter)

    def has(self, action: str) -> bool:
        return any(a == action for _, a, _, _ in self.actions)

    def first(self, action: str) -> int | None:
        return next((seq for seq, a, _, _ in self.actions if a == action), None)

    def comparable(self) -> tuple[object, ...]:
        """What a refused Update must leave exactly as it was."""
        return (
            self.status,
            [a[:2] for a in self.actions],
            self.case_row,
            self.tasks,
            self.holds,
            self.notices,
            self.bundles,
            self.certificates,
            self.remaining,
            self.grants_none,
            self.profile_status,
            self.store_keys,
            self.chain_events,
            sum(self.mail_ids.values()),
        )


def observe(world: CaseWorld, status: CaseStatus) -> Observed:
    case_id, customer_id = status.case_id, status.customer_id
    crm = ReferenceCrm(world.db)
    with world.db.session() as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(col(AuditEvent.seq))
        ).all()
        case = session.get(CaseRecord, case_id)
        case_row = case.model_dump(exclude={"updated_at"}) if case is not None else {}
        tasks = session.exec(
            select(TaskRecord).where(TaskRecord.case_id == case_id).order_by(col(TaskRecord.id))
        ).all()
        holds = session.exec(
            select(LegalHoldRecord)
            .where(LegalHoldRecord.case_id == case_id)
            .order_by(col(LegalHoldRecord.id))
        ).all()
        notices = session.exec(
            select(NoticeRecord)
            .where(NoticeRecord.case_id == case_id)
            .order_by(col(NoticeRecord.id))
        ).all()
        bundles = session.exec(
            select(ArchiveBundleRecord)
            .where(ArchiveBundleRecord.case_id == case_id)
            .order_by(col(ArchiveBundleRecord.id))
        ).all()
        certificates = session.exec(
            select(DeletionCertificate).where(DeletionCertificate.case_id == case_id)
        ).all()
        report = chain.verify(session, world.harness.cases.sealed.events_opener())
    sealed = world.harness.cases.sealed
    events, tasks, holds, notices = (
        sealed.open_events(events),
        sealed.open(tasks),
        sealed.open(holds),
        sealed.open(notices),
    )
    profile = crm.get_profile(customer_id)
    return Observed(
        status=status,
        actions=[(e.seq, e.action, e.at, dict(e.details)) for e in events],
        case_row=case_row,
        tasks=[(t.id, t.kind, t.status, t.assignee, t.decision) for t in tasks],
        holds=[(h.id, h.released_at is None) for h in holds],
        notices=[(n.id, n.kind, n.status, n.message_id) for n in notices],
        bundles=[
            (b.id, b.category, b.verified_at is not None, b.deleted_at is not None) for b in bundles
        ],
        bundle_counts={b.id: dict(b.record_counts) for b in bundles if b.deleted_at is None},
        whole_counts=next((dict(b.record_counts) for b in bundles if b.category is None), {}),
        certificates=len(certificates),
        remaining=crm.remaining_records(customer_id),
        grants_none=crm.access_grants(customer_id).none,
        profile_status=profile.status if profile is not None else None,
        store_keys=customer_keys(archive_store_from(world.settings), customer_id),
        chain_intact=report.intact,
        chain_events=report.events,
        mail_ids=Counter(str(m["Message-ID"]) for m in world.mail.messages),
    )


def check_all(seen: Observed) -> None:
    """Every invariant of a case at rest."""
    assert seen.chain_intact, "the audit chain does not verify"
    check_mirror(seen)
    check_backup_first(seen)
    check_no_deletion_under_hold(seen)
    check_no_deletion_before_end(seen)
    check_archive_kept(seen)
    check_access_after_archive(seen)
    check_notices_once(seen)
    check_one_backup_one_certificate(seen)


def check_mirror(seen: Observed) -> None:
    """At rest the read model says what the process says: stage, outcome, open tasks."""
    status = seen.status
    assert seen.case_row["stage"] == status.stage, (seen.case_row["stage"], status.stage)
    assert seen.case_row["outcome"] == status.outcome
    open_rows = {(t[0], t[3]) for t in seen.tasks if t[2] == TaskStatus.OPEN}
    pending = {(t.task_id, t.assignee) for t in status.pending_tasks}
    assert open_rows == pending, f"open task rows {open_rows} but pending tasks {pending}"
    active_rows = {h for h, active in seen.holds if active}
    assert active_rows == {h.hold_id for h in status.legal_holds}


def check_backup_first(seen: Observed) -> None:
    """No revocation, archive or deletion without a verified backup before it."""
    verified = seen.first("backup_verified")
    for action in NEED_BACKUP:
        at = seen.first(action)
        if at is not None:
            assert verified is not None and verified < at, f"{action} before backup_verified"
    if seen.has("access_revoked"):
        whole = [b for b in seen.bundles if b[1] is None]
        assert whole and whole[0][2], "access revoked, but the backup bundle is not verified"


def check_no_deletion_under_hold(seen: Observed) -> None:
    """In the order the trail was written, no deletion while a legal hold stood."""
    standing: set[str] = set()
    for _, action, _, details in seen.actions:
        if action == "legal_hold_placed":
            standing.add(details["hold_id"])
        elif action == "legal_hold_released":
            standing.discard(details["hold_id"])
        elif action in DELETIONS:
            assert not standing, f"{action} while holds {standing} stood"


def check_no_deletion_before_end(seen: Observed) -> None:
    """Each category deleted at or after its own end; one period, at or after its end."""
    for clock in seen.status.category_clocks:
        if clock.deleted_at is not None:
            assert clock.deleted_at >= clock.ends_at, f"{clock.category} deleted before its end"
    deleted = [at for _, a, at, _ in seen.actions if a == "customer_data_deleted"]
    if deleted and not seen.status.category_clocks:
        end = seen.case_row["retention_end"]
        assert end is not None and deleted[0] >= end, f"deleted at {deleted[0]}, retained to {end}"
    # Whatever is not deleted is still in the archive: one sealed bundle per category kept.
    if seen.status.category_clocks and seen.status.outcome is None:
        kept = {c.category for c in seen.status.category_clocks if c.deleted_at is None}
        live = {b[1] for b in seen.bundles if b[1] is not None and not b[3]}
        assert live == {str(c) for c in kept}, f"bundles {live} for categories kept {kept}"


def check_archive_kept(seen: Observed) -> None:
    """In retention every archived record is still in a live bundle, unless its category was
    deleted: nothing is lost between the backup and the deletion steps."""
    status = seen.status
    whole = [b for b in seen.bundles if b[1] is None]
    if status.stage is not Stage.RETENTION or status.outcome is not None or not whole:
        return
    backed_up = seen.whole_counts
    deleted = {str(c) for c in deleted_categories(status)}
    live: dict[str, int] = {}
    for counts in seen.bundle_counts.values():
        for table, n in counts.items():
            live[table] = max(live.get(table, 0), n)
    lost = {
        table: (live.get(table, 0), n)
        for table, n in backed_up.items()
        if n
        and table != "customer"
        and live.get(table, 0) < n
        and str(CATEGORY_OF[table]) not in deleted
    }
    assert not lost, f"archived records lost before any deletion (kept, backed up): {lost}"


def check_access_after_archive(seen: Observed) -> None:
    """Once archived, nothing grants the customer access — unless they were reactivated."""
    if seen.has("customer_archived") and not seen.has("customer_reactivated"):
        assert seen.grants_none, "access granted after the archive"


def check_notices_once(seen: Observed) -> None:
    """Each customer notice at most once per case; every mail the outbox sent arrived once."""
    sent = Counter(kind for _, kind, status, _ in seen.notices if status == "sent")
    twice = {k: n for k, n in sent.items() if k in ONCE_PER_CASE and n > 1}
    assert not twice, f"notices sent more than once: {twice}"
    for _, kind, status, message_id in seen.notices:
        if status == "sent":
            assert seen.mail_ids[message_id] == 1, (
                f"{kind} {message_id} arrived {seen.mail_ids[message_id]} times"
            )
    duplicated = {m: n for m, n in seen.mail_ids.items() if n > 1}
    assert not duplicated, f"mail delivered more than once: {duplicated}"


def check_one_backup_one_certificate(seen: Observed) -> None:
    """One whole-customer backup; at most one certificate, and only once nothing remains."""
    whole = [b for b in seen.bundles if b[1] is None]
    assert len(whole) <= 1, f"{len(whole)} whole-customer backups"
    by_category = Counter(b[1] for b in seen.bundles if b[1] is not None)
    assert all(n == 1 for n in by_category.values()), f"category bundles {by_category}"
    assert seen.certificates <= 1
    if seen.certificates:
        assert seen.has("customer_data_deleted") and seen.has("deletion_verified")
        assert seen.remaining == {}, f"certified, but the CRM holds {seen.remaining}"
        assert seen.store_keys == [], f"certified, but the archive holds {seen.store_keys}"


def restorable(seen: Observed) -> dict[str, int]:
    """What a reactivation must bring back: the restored tables' rows in the live bundles."""
    counts: dict[str, int] = {}
    for record_counts in seen.bundle_counts.values():
        for table, n in record_counts.items():
            if table in RESTORED_TABLES:
                counts[table] = max(counts.get(table, 0), n)
    return counts


def check_reactivated(seen: Observed, expected: dict[str, int]) -> None:
    """Reactivation restored everything not yet deleted, re-granted access, emptied the archive."""
    assert seen.profile_status == "active"
    short = {
        t: (seen.remaining.get(t, 0), n)
        for t, n in expected.items()
        if seen.remaining.get(t, 0) < n
    }
    assert not short, f"not restored (have, archived): {short}"
    assert [k for k in seen.store_keys if not k.startswith("exports/")] == []
    if expected.get("portal_users"):
        assert not seen.grants_none, "reactivated, but no portal user may sign in"


def deleted_categories(status: CaseStatus) -> set[DataCategory]:
    return {c.category for c in status.category_clocks if c.deleted_at is not None}
