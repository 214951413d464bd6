"""DetectionWorkflow: the daily scan, then a case for each new flag, evidence for open cases.

Pages through the run's candidates with bounded concurrency (in the activity) and continues
as new every few pages, so a run over a million customers keeps a short history.
"""

from __future__ import annotations

from dataclasses import replace

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.detection import DetectionActivities
    from closeout.contracts import (
        CandidatePage,
        DetectionInput,
        DetectionSummary,
        PageOutcome,
        ScanRequest,
        ScanSummary,
    )
    from workflows.options import BATCH, BOOKKEEPING, SCAN


@workflow.defn
class DetectionWorkflow:
    @workflow.run
    async def run(self, state: DetectionInput) -> DetectionSummary:
        run_id = state.run_id or str(workflow.uuid4())
        state = replace(state, run_id=run_id)
        scan: ScanSummary = await workflow.execute_activity_method(
            DetectionActivities.scan_candidates,
            ScanRequest(run_id, workflow.now()),
            **SCAN,
        )
        if state.phase == "scan":
            state = replace(state, phase="open")
        pages = 0
        for phase, step, following in (
            ("open", DetectionActivities.open_flagged_cases, "evidence"),
            ("evidence", DetectionActivities.add_evidence_to_open_cases, "finish"),
        ):
            while state.phase == phase:
                if pages >= state.pages_per_run:
                    workflow.continue_as_new(state)
                outcome: PageOutcome = await workflow.execute_activity_method(
                    step,
                    CandidatePage(run_id, state.after, state.page_size),
                    **BATCH,
                )
                pages += 1
                state = replace(
                    state,
                    after=None if outcome.finished else outcome.last,
                    phase=following if outcome.finished else phase,
                    started=state.started + (outcome.done if phase == "open" else 0),
                    evidence_added=state.evidence_added
                    + (outcome.done if phase == "evidence" else 0),
                    skipped=state.skipped + outcome.skipped,
                )
        summary = DetectionSummary(
            run_id, scan.flagged, state.started, state.evidence_added, state.skipped
        )
        await workflow.execute_activity_method(
            DetectionActivities.finish_detection_run,
            summary,
            **BOOKKEEPING,
        )
        return summary
