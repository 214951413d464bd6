"""Housekeeping: what outlives its purpose, or was deleted and came back, is removed."""

from __future__ import annotations

import uuid

from temporalio import activity

from closeout.archive import ArchiveStore
from closeout.cases.repository import CaseRepository
from closeout.contracts import AuditEntry, PurgeRequest, PurgeResult
from closeout.domain import SYSTEM_ACTOR
from closeout.settings import Settings
from closeout.suppression.enforcement import SuppressionEnforcer

EXPORTS_PREFIX = "exports/"


class HousekeepingActivities:
    def __init__(
        self,
        settings: Settings,
        cases: CaseRepository,
        archive: ArchiveStore,
        suppression: SuppressionEnforcer,
    ) -> None:
        self.settings = settings
        self.cases = cases
        self.archive = archive
        self.suppression = suppression

    @activity.defn
    def purge_expired_exports(self, req: PurgeRequest) -> PurgeResult:
        """Delete each data export whose download link has expired; audit each one once."""
        purged = 0
        for key in self.archive.keys(EXPORTS_PREFIX):
            export_id = key.rsplit("/", 1)[-1].removesuffix(".json")
            notice = self.cases.notice(export_id)
            if notice is None or notice.created_at + self.settings.export_ttl > req.now:
                continue
            if self.archive.delete(key):
                purged += 1
            self.cases.append_audit(
                notice.case_id,
                AuditEntry(
                    event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{export_id}/purged")),
                    actor=SYSTEM_ACTOR,
                    action="data_export_purged",
                    at=req.now,
                    reason="the download link has expired",
                    details={"export_id": export_id},
                ),
            )
        return PurgeResult(purged)

    @activity.defn
    def enforce_suppression(self, req: PurgeRequest) -> PurgeResult:
        """Delete again every customer the suppression ledger names but a store still holds
        (after a database or file backup was restored); audited by keyed reference only."""
        return PurgeResult(len(self.suppression.enforce(req.now, activity.heartbeat)))
