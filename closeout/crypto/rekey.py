"""Records made before they named a master key, moved onto the current one.

The suppression ledger and the deletion certificates were once keyed with the secret key;
now their keys derive from a master key whose id each record names. Until the old ones are
moved, the secret key cannot be rotated without forgetting deleted customers and voiding
certificates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import select

from closeout.cases.models import CaseRecord
from closeout.certificates.repository import Certificates
from closeout.db import Database
from closeout.domain import Outcome
from closeout.suppression.chain import ChainedLedger


@dataclass(frozen=True)
class RekeyResult:
    ledger_entries: int
    certificates: int
    # Certificates that did not verify under the secret key: left untouched.
    unverified: list[str] = field(default_factory=list)


def rekey_records(
    db: Database,
    ledger: ChainedLedger,
    certificates: Certificates,
    now: datetime | None = None,
) -> RekeyResult:
    """Name every deleted customer of the read model under the current master key where the
    ledger knows them only by the secret key; sign legacy certificates again. Idempotent."""
    now = now or datetime.now(UTC)
    with db.session() as session:
        deleted = session.exec(
            select(CaseRecord.customer_id, CaseRecord.id).where(
                CaseRecord.outcome == Outcome.DELETED
            )
        ).all()
    entries = sum(ledger.rekey(customer_id, case_id, now) for customer_id, case_id in deleted)
    resigned, unverified = certificates.resign_legacy(now)
    return RekeyResult(entries, resigned, unverified)
