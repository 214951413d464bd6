"""`closeout detect`: the preview (dry run) and a run on Temporal, as text or JSON."""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import typer

from closeout.constants import TASK_QUEUE
from closeout.contracts import DetectionInput, DetectionSummary
from closeout.db import Database
from closeout.detection.detector import Candidate, Detector, Disposition, Scan
from closeout.settings import Settings
from closeout.temporal import connect

WHAT_HAPPENS = {
    Disposition.NEW: "would open a case",
    Disposition.OPEN_CASE: "would add evidence to the open case",
    Disposition.EXCLUDED: "excluded by the account manager",
    Disposition.COOLING_DOWN: "left alone: cooling down after a case",
}


def scan_with_progress(settings: Settings) -> Scan:
    from cli.main import connected_systems

    inputs = connected_systems(settings).detection
    detector = Detector(Database.from_url(settings.database_url), settings.detection, inputs)
    with typer.progressbar(length=len(detector.rules), label="rules", file=sys.stderr) as bar:
        return detector.scan(datetime.now(UTC), progress=lambda _trigger: bar.update(1))


def _candidate(c: Candidate) -> dict[str, Any]:
    return {
        "customer_id": c.customer_id,
        "trigger": c.trigger,
        "churn_class": c.churn_class,
        "disposition": c.disposition,
        "case_id": c.case_id,
        "also": list(c.also),
        "evidence": c.evidence,
        "why": c.why,
    }


def dry_run_report(settings: Settings, as_json: bool) -> None:
    scan = scan_with_progress(settings)
    if as_json:
        report = {
            "at": scan.now.isoformat(),
            "counts": scan.counts(),
            "seconds": {k: round(v, 3) for k, v in scan.seconds.items()},
            "candidates": [_candidate(c) for c in scan.candidates],
        }
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    for c in scan.candidates:
        facts = ", ".join(f"{k}={v}" for k, v in c.evidence.items())
        typer.echo(
            f"{c.customer_id:<20} {c.trigger:<24} {c.churn_class:<14} "
            f"{WHAT_HAPPENS[c.disposition]}  ({facts})" + (f"\n{'':<20} {c.why}" if c.why else "")
        )
    counts = scan.counts()
    typer.echo("")
    for heading, key in (("by trigger", "trigger"), ("by churn class", "churn_class")):
        line = ", ".join(f"{k} {v}" for k, v in sorted(counts[key].items()))
        typer.echo(f"{heading}: {line or 'none'}")
    new = len(scan.of(Disposition.NEW))
    typer.echo(
        f"flagged {len(scan.candidates)}: {new} new cases, "
        f"{len(scan.of(Disposition.OPEN_CASE))} open cases, "
        f"{len(scan.of(Disposition.EXCLUDED))} excluded, "
        f"{len(scan.of(Disposition.COOLING_DOWN))} cooling down (dry run: nothing changed)"
    )


async def run_detection(settings: Settings, as_json: bool) -> None:
    """A run now, on Temporal (as the schedule runs it); waits for its summary."""
    from workflows.detection import DetectionWorkflow

    client = await connect(settings)
    summary: DetectionSummary = await client.execute_workflow(
        DetectionWorkflow.run,
        DetectionInput(page_size=settings.detection.page_size),
        id=f"closeout-detection-now-{uuid.uuid4()}",
        task_queue=TASK_QUEUE,
    )
    if as_json:
        typer.echo(json.dumps(asdict(summary)))
    else:
        typer.echo(
            f"run {summary.run_id}: flagged {summary.flagged}, started {summary.started} cases, "
            f"added evidence to {summary.evidence_added}, skipped {summary.skipped}"
        )
