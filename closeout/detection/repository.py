"""All SQL of detection's own tables: runs, candidates, exclusions, webhook deliveries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from closeout.cases.sealing import SealedWords
from closeout.crypto.vault import data_keys_from
from closeout.db import Database, table_of
from closeout.detection.detector import Scan
from closeout.detection.models import (
    DetectionCandidate,
    DetectionExclusion,
    DetectionRun,
    TriggerDelivery,
)
from closeout.settings import Settings

_CANDIDATES = table_of(DetectionCandidate).name


class DetectionRepository:
    """Reasons for exclusions and findings in words are sealed under the customer's key
    (closeout/cases/sealing.py)."""

    def __init__(self, db: Database, sealed: SealedWords) -> None:
        self.db = db
        self.sealed = sealed

    # runs and their candidates

    def record_scan(self, run_id: str, scan: Scan) -> DetectionRun:
        """The run and every customer it flagged; a retried activity finds it written."""
        with self.db.session() as session:
            run = session.get(DetectionRun, run_id)
            if run is not None:
                return run
            run = DetectionRun(
                id=run_id, started_at=scan.now, flagged=len(scan.candidates), counts=scan.counts()
            )
            session.add(run)
            session.add_all(
                DetectionCandidate(
                    run_id=run_id,
                    customer_id=c.customer_id,
                    trigger=c.trigger,
                    churn_class=c.churn_class,
                    evidence=self.sealed.seal(_CANDIDATES, c.customer_id, {"evidence": c.evidence})[
                        "evidence"
                    ],
                    status=c.disposition,
                    case_id=c.case_id,
                )
                for c in scan.candidates
            )
            return run

    def page(
        self, run_id: str, status: str, after: str | None, limit: int
    ) -> Sequence[DetectionCandidate]:
        """The next candidates in one status, by customer id (keyset paging)."""
        query = select(DetectionCandidate).where(
            DetectionCandidate.run_id == run_id, DetectionCandidate.status == status
        )
        if after is not None:
            query = query.where(col(DetectionCandidate.customer_id) > after)
        with self.db.session() as session:
            rows = session.exec(
                query.order_by(col(DetectionCandidate.customer_id)).limit(limit)
            ).all()
        return self.sealed.open(rows)

    def mark(self, run_id: str, outcomes: dict[str, str]) -> None:
        """What became of a page of candidates, in one transaction."""
        with self.db.session() as session:
            for status in set(outcomes.values()):
                session.execute(
                    update(DetectionCandidate)
                    .where(
                        col(DetectionCandidate.run_id) == run_id,
                        col(DetectionCandidate.customer_id).in_(
                            [c for c, s in outcomes.items() if s == status]
                        ),
                    )
                    .values(status=status)
                )

    def finish(self, run_id: str, started: int, evidence_added: int, skipped: int) -> None:
        with self.db.session() as session:
            run = session.get(DetectionRun, run_id)
            if run is None:
                raise LookupError(f"no detection run {run_id}")
            run.started, run.evidence_added, run.skipped = started, evidence_added, skipped
            run.finished_at = run.finished_at or datetime.now(UTC)
            session.add(run)

    def runs(self, limit: int = 10) -> Sequence[DetectionRun]:
        with self.db.session() as session:
            return session.exec(
                select(DetectionRun).order_by(col(DetectionRun.started_at).desc()).limit(limit)
            ).all()

    def get_run(self, run_id: str) -> DetectionRun | None:
        with self.db.session() as session:
            return session.get(DetectionRun, run_id)

    # exclusions

    def exclude(
        self, customer_id: str, reason: str, by: str, until: datetime
    ) -> DetectionExclusion:
        sealed = self.sealed.text(customer_id, reason) or ""
        with self.db.session() as session:
            row = DetectionExclusion(
                id=str(uuid.uuid4()),
                customer_id=customer_id,
                reason=sealed,
                created_by=by,
                created_at=datetime.now(UTC),
                expires_at=until,
            )
            session.add(row)
        row.reason = reason
        return row

    def exclusions(self, customer_id: str) -> Sequence[DetectionExclusion]:
        with self.db.session() as session:
            rows = session.exec(
                select(DetectionExclusion)
                .where(DetectionExclusion.customer_id == customer_id)
                .order_by(col(DetectionExclusion.created_at))
            ).all()
        return self.sealed.open(rows)

    # webhook deliveries

    def delivery(self, key: str) -> TriggerDelivery | None:
        with self.db.session() as session:
            return session.get(TriggerDelivery, key)

    def record_delivery(
        self, key: str, body_sha256: str, status_code: int, response: dict[str, Any]
    ) -> TriggerDelivery:
        """The first answer to a key is kept; a concurrent duplicate gets that one back."""
        with self.db.session() as session:
            existing = session.get(TriggerDelivery, key)
            if existing is not None:
                return existing
            row = TriggerDelivery(
                idempotency_key=key,
                body_sha256=body_sha256,
                status_code=status_code,
                response=response,
                created_at=datetime.now(UTC),
                case_id=_case_of(response),
            )
            session.add(row)
            return row


def _case_of(response: dict[str, Any]) -> str | None:
    case_id = response.get("case_id")
    return case_id if isinstance(case_id, str) and case_id else None


def detection_repository(settings: Settings, db: Database) -> DetectionRepository:
    """Detection's tables, customers' words sealed under keys of the settings' master keys."""
    return DetectionRepository(db, SealedWords(data_keys_from(settings, db)))
