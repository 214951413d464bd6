"""Housekeeping: what outlives its purpose, or was deleted and came back, is removed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from closeout.archive import ArchiveStore
from closeout.cases.repository import CaseRepository
from closeout.constants import case_workflow_id
from closeout.contracts import AuditEntry, PurgeRequest, PurgeResult, ShredResult
from closeout.crypto.data_keys import HISTORY_SCOPE
from closeout.domain import SYSTEM_ACTOR, Outcome
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
        temporal: Callable[[], Awaitable[Client]],
    ) -> None:
        self.settings = settings
        self.cases = cases
        self.archive = archive
        self.suppression = suppression
        self.keys = suppression.vault.keys
        self._temporal = temporal

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

    @activity.defn
    async def shred_deleted_histories(self, req: PurgeRequest) -> ShredResult:
        """Destroy the history key of every deleted customer whose case workflow has closed:
        from then on nothing opens that case's Temporal history (each audited once)."""
        client = await self._temporal()
        shredded = 0
        for customer_id in await asyncio.to_thread(self._deleted_with_live_history):
            activity.heartbeat()
            if await self._case_running(client, customer_id):
                continue  # its last steps still read and write the history
            if await asyncio.to_thread(self.keys.destroy, customer_id, HISTORY_SCOPE):
                shredded += 1
                await asyncio.to_thread(self._audit_shredded, customer_id, req)
        return ShredResult(shredded)

    def _deleted_with_live_history(self) -> list[str]:
        ledger = self.suppression.ledger
        live = self.keys.customers_with_live_keys(HISTORY_SCOPE)
        return [c for c in live if ledger.is_suppressed(c)]

    async def _case_running(self, client: Client, customer_id: str) -> bool:
        try:
            described = await client.get_workflow_handle(case_workflow_id(customer_id)).describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return False  # the namespace's retention has dropped the history already
            raise
        return described.status is WorkflowExecutionStatus.RUNNING

    def _audit_shredded(self, customer_id: str, req: PurgeRequest) -> None:
        deleted = [
            c.id for c in self.cases.cases_for_customer(customer_id) if c.outcome == Outcome.DELETED
        ]
        self.cases.append_audit(
            deleted[0] if deleted else None,
            AuditEntry(
                event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"history-shredded/{customer_id}")),
                actor=SYSTEM_ACTOR,
                action="case_history_shredded",
                at=req.now,
                details={"data_key_scope": HISTORY_SCOPE},
            ),
        )
