"""What every case must look like at its end, whatever faults it met.

The checks return problems, not assertions, so the benchmark can count them: a problem is a
duplicate (something done or sent twice) or a loss (something missing, a case not finished).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from closeout.audit.models import AuditEvent
from closeout.cases.models import ArchiveBundleRecord, NoticeRecord
from closeout.db import Database
from closeout.domain import DataCategory, NoticeKind
from tests.support import MailSink, chain_report

# Done once per case that runs to deletion: each of these audit actions exactly once.
ONCE = (
    "case_opened",
    "backup_created",
    "backup_verified",
    "access_revoked",
    "access_revocation_verified",
    "customer_archived",
    "archive_split_by_category",
    "customer_restricted",
    "customer_data_deleted",
    "deletion_verified",
    "case_closed",
)
# Each customer notice of a deleted case, sent once (the reminder is skipped when the case
# reaches its effective date before the reminder's moment, as after a long outage).
MAILED_ONCE = (
    NoticeKind.WIN_BACK,
    NoticeKind.ADVANCE_NOTICE,
    NoticeKind.CLOSED,
    NoticeKind.DELETION_CONFIRMATION,
)
MAILED_AT_MOST_ONCE = (NoticeKind.REMINDER,)


@dataclass
class Verdict:
    """What is wrong with one case at its end; nothing when it is right."""

    case_id: str
    duplicates: list[str] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    # Messages received again under the same Message-ID after a worker was lost between the
    # SMTP server's acceptance and the outbox's record of it, each flagged in the audit trail
    # (`notice_delivery_uncertain`): one message to a receiving system, not a duplicate.
    resent: int = 0

    @property
    def right(self) -> bool:
        return not self.duplicates and not self.losses

    def __str__(self) -> str:
        return (
            f"case {self.case_id}: duplicates={self.duplicates} losses={self.losses} "
            f"resent={self.resent}"
        )


def _count(verdict: Verdict, what: str, found: int, expected: int = 1) -> None:
    if found > expected:
        verdict.duplicates.append(f"{what} x{found}")
    elif found < expected:
        verdict.losses.append(f"{what} x{found}")


def check_deleted_case(
    db: Database,
    mail: MailSink,
    archive_dir: Path,
    case: dict[str, Any],
    certificate: dict[str, Any] | None,
) -> Verdict:
    """A case that ran to deletion: right outcome, one backup split once, one revocation, each
    mail once by Message-ID, one certificate naming each category's deletion once."""
    case_id = case["id"]
    verdict = Verdict(case_id)
    if (case["stage"], case["outcome"]) != ("closed", "deleted"):
        verdict.losses.append(f"ended at stage={case['stage']} outcome={case['outcome']}")
    with db.session() as session:
        actions = Counter(
            session.exec(select(AuditEvent.action).where(AuditEvent.case_id == case_id)).all()
        )
        bundles = session.exec(
            select(ArchiveBundleRecord).where(ArchiveBundleRecord.case_id == case_id)
        ).all()
        notices = session.exec(
            select(NoticeRecord).where(
                NoticeRecord.case_id == case_id, col(NoticeRecord.kind).in_(list(NoticeKind))
            )
        ).all()
    for action in ONCE:
        _count(verdict, action, actions[action])
    backups = [b for b in bundles if b.category is None]
    _count(verdict, "backup bundle", len(backups))
    per_category = Counter(b.category for b in bundles if b.category is not None)
    for category in DataCategory:
        _count(verdict, f"{category} bundle", per_category[category])
    # The store, not the read model's bundle rows: the last deletion removes every file and
    # key of the customer at once, and leaves its category's row marked live.
    left = [p.name for p in (archive_dir / case["customer_id"]).glob("*")]
    if left:
        verdict.losses.append(f"archive files never deleted: {left}")
    received = Counter(str(m["Message-ID"]) for m in mail.messages)
    by_kind = Counter(n.kind for n in notices)
    for kind in MAILED_ONCE:
        _count(verdict, f"{kind} notice", by_kind[kind])
    for kind in MAILED_AT_MOST_ONCE:
        if by_kind[kind] > 1:
            verdict.duplicates.append(f"{kind} notice x{by_kind[kind]}")
    uncertain = actions["notice_delivery_uncertain"]
    for notice in notices:
        if notice.status != "sent":
            verdict.losses.append(f"{notice.kind} notice {notice.status}")
        copies = received[notice.message_id]
        if copies > 1 and uncertain >= copies - 1:
            uncertain -= copies - 1
            verdict.resent += copies - 1
            copies = 1
        _count(verdict, f"{notice.kind} mail {notice.message_id}", copies)
    if certificate is None or not certificate.get("authentic"):
        verdict.losses.append("no authentic certificate")
    else:
        deleted = Counter(
            c for d in certificate["certificate"]["deletions"] for c in d["categories"]
        )
        for category in DataCategory:
            _count(verdict, f"deletion of {category}", deleted[category])
    return verdict


def chain_intact(db: Database) -> str | None:
    """None when the whole audit chain verifies (sealed content opened with the stack's dev
    keys); else where it breaks."""
    report = chain_report(db)
    return None if report.intact else str(report.first_break)
