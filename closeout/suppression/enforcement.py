"""Restore-time check: customers the ledger names as deleted are deleted again, wherever found."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from closeout.archive import customer_keys
from closeout.cases.erasure import CustomerWords
from closeout.cases.repository import CaseRepository
from closeout.contracts import AuditEntry
from closeout.crm.port import CrmPort
from closeout.crypto.vault import ArchiveVault
from closeout.domain import SYSTEM_ACTOR
from closeout.suppression.ledger import SuppressionLedger


@dataclass(frozen=True)
class Resurrected:
    """A deleted customer found again (by keyed reference only) and what was removed."""

    ref: str
    removed: dict[str, int] = field(default_factory=dict)


class SuppressionEnforcer:
    def __init__(
        self,
        ledger: SuppressionLedger,
        crm: CrmPort,
        vault: ArchiveVault,
        cases: CaseRepository,
    ) -> None:
        self.ledger = ledger
        self.crm = crm
        self.vault = vault
        self.cases = cases

    def found(self) -> Iterator[str]:
        """Ids of customers present in some store although the ledger says they were deleted."""
        refs = self.ledger.refs()
        if not refs:
            return
        seen: set[str] = set()
        for customer_id in self.crm.customer_ids():
            if not self.ledger.refs_of(customer_id).isdisjoint(refs):
                seen.add(customer_id)
                yield customer_id
        for customer_id in self.vault.keys.customers_with_live_keys():
            if customer_id not in seen and not self.ledger.refs_of(customer_id).isdisjoint(refs):
                seen.add(customer_id)
                yield customer_id

    def purge(self, customer_id: str) -> Resurrected:
        """Delete the customer again from the CRM, the archive, the data keys and the outbox."""
        crm = self.crm.delete_customer(customer_id)
        bundles = sum(
            int(self.vault.store.delete(k)) for k in customer_keys(self.vault.store, customer_id)
        )
        removed = {
            **{f"crm_{name}": count for name, count in crm.items() if count},
            "archive_bundles": bundles,
            "data_keys_destroyed": self.vault.shred(customer_id),
            "outbox_addresses": self.cases.scrub_recipients(customer_id, sealed_too=True),
            "free_text_fields": sum(CustomerWords(self.cases.db).erase(customer_id).values()),
        }
        return Resurrected(self.ledger.ref(customer_id), removed)

    def enforce(
        self, now: datetime, progress: Callable[[int], None] | None = None
    ) -> list[Resurrected]:
        """Find and purge every resurrected customer, each audited by keyed reference."""
        purged: list[Resurrected] = []
        for customer_id in list(self.found()):
            found = self.purge(customer_id)
            purged.append(found)
            self.cases.append_audit(
                None,
                AuditEntry(
                    event_id=str(uuid.uuid4()),
                    actor=SYSTEM_ACTOR,
                    action="suppressed_customer_purged",
                    at=now,
                    reason="a deleted customer's data came back with a restored copy",
                    details={"customer_ref": found.ref, **found.removed},
                ),
            )
            if progress is not None:
                progress(len(purged))
        return purged
