"""Detection's side effects: scan the CRM, open the flagged customers' cases, add evidence."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from temporalio import activity
from temporalio.client import Client

from closeout.contracts import (
    Actor,
    CandidatePage,
    CloseCustomerInput,
    DetectionSummary,
    EvidenceRequest,
    PageOutcome,
    ScanRequest,
    ScanSummary,
)
from closeout.crm.port import CustomerSource
from closeout.db import Database
from closeout.detection.detector import DetectionInputs, Detector, Disposition
from closeout.detection.models import DetectionCandidate
from closeout.detection.repository import detection_repository
from closeout.domain import SYSTEM_ACTOR, ChurnClass, Trigger
from closeout.settings import Settings
from workflows.case_start import add_evidence, start_case

DETECTION_ACTOR = Actor("detection", SYSTEM_ACTOR)


class DetectionActivities:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        source: CustomerSource,
        client: Callable[[], Awaitable[Client]],
        inputs: DetectionInputs | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.detector = Detector(db, settings.detection, inputs)
        self.runs = detection_repository(settings, db)
        self._client = client

    @activity.defn
    def scan_candidates(self, req: ScanRequest) -> ScanSummary:
        """Run every rule once and keep what was found under the run (once per run)."""
        existing = self.runs.get_run(req.run_id)
        if existing is None:
            existing = self.runs.record_scan(req.run_id, self.detector.scan(req.now))
        by = existing.counts.get("disposition", {})
        return ScanSummary(
            req.run_id,
            existing.flagged,
            by.get(Disposition.NEW, 0),
            by.get(Disposition.OPEN_CASE, 0),
            by.get(Disposition.EXCLUDED, 0),
        )

    async def _each(
        self,
        page: CandidatePage,
        status: str,
        act: Callable[[Client, DetectionCandidate], Awaitable[str]],
    ) -> PageOutcome:
        rows = await asyncio.to_thread(self.runs.page, page.run_id, status, page.after, page.limit)
        client = await self._client()
        limit = asyncio.Semaphore(self.settings.detection.max_concurrent_starts)
        outcomes: dict[str, str] = {}

        async def one(row: DetectionCandidate) -> None:
            async with limit:
                outcomes[row.customer_id] = await act(client, row)

        # A page that fails part-way is retried whole: the same run gives each customer the
        # same case id, so what was started counts as started again, once.
        await asyncio.gather(*(one(r) for r in rows))
        await asyncio.to_thread(self.runs.mark, page.run_id, outcomes)
        done = sum(1 for o in outcomes.values() if o in ("started", "evidence_added"))
        return PageOutcome(
            last=rows[-1].customer_id if rows else page.after,
            done=done,
            skipped=len(outcomes) - done,
            finished=len(rows) < page.limit,
        )

    @activity.defn
    async def open_flagged_cases(self, page: CandidatePage) -> PageOutcome:
        """Start a case for each new candidate of the page, a bounded number at a time."""

        async def start(client: Client, row: DetectionCandidate) -> str:
            # The same run always gives the same case id: a retried page starts nothing twice.
            case_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{page.run_id}/{row.customer_id}"))
            policy = await self._policy_of(row.customer_id, Trigger(row.trigger))
            running = await start_case(
                client,
                CloseCustomerInput(
                    case_id=case_id,
                    customer_id=row.customer_id,
                    trigger=Trigger(row.trigger),
                    churn_class=ChurnClass(row.churn_class),
                    policy=policy,
                    opened_by=DETECTION_ACTOR.name,
                    evidence=row.evidence,
                ),
                # The cases go to the queue this worker serves, with detection itself.
                task_queue=activity.info().task_queue,
            )
            return "started" if running in (None, case_id) else "already_open"

        return await self._each(page, Disposition.NEW, start)

    async def _policy_of(self, customer_id: str, trigger: Trigger) -> str:
        """The policy the settings' rules give the customer's case (their tier and country
        read only when a rule asks)."""
        if not self.settings.policy_rules:
            return self.settings.default_policy
        profile = await asyncio.to_thread(self.source.get_profile, customer_id)
        tier, country = (profile.value_tier, profile.country) if profile else (None, None)
        return self.settings.policy_for(trigger, tier, country)

    @activity.defn
    async def add_evidence_to_open_cases(self, page: CandidatePage) -> PageOutcome:
        """Tell each open case of the further trigger found for its customer."""

        async def add(client: Client, row: DetectionCandidate) -> str:
            request = EvidenceRequest(
                Trigger(row.trigger), row.evidence, DETECTION_ACTOR, case_id=row.case_id
            )
            return await add_evidence(client, row.customer_id, request)

        return await self._each(page, Disposition.OPEN_CASE, add)

    @activity.defn
    def finish_detection_run(self, summary: DetectionSummary) -> None:
        self.runs.finish(summary.run_id, summary.started, summary.evidence_added, summary.skipped)
