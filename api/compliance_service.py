"""What compliance officers look up: retention clocks, deletion certificates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.errors import NotFound
from closeout.cases.models import CaseRecord, LegalHoldRecord
from closeout.cases.repository import CaseRepository
from closeout.certificates.models import DeletionCertificate
from closeout.certificates.repository import Certificates
from closeout.db import Database
from closeout.settings import Settings

CHART_DAYS = 90


@dataclass(frozen=True)
class ClockView:
    """One data category's countdown on the retention page."""

    category: str
    ends_at: datetime
    days_left: int
    deleted: bool


@dataclass(frozen=True)
class RetentionRow:
    case: CaseRecord
    holds: list[LegalHoldRecord]
    days_left: int | None
    clocks: list[ClockView]


@dataclass(frozen=True)
class WeekBar:
    starts: datetime
    due: int
    held: int


@dataclass(frozen=True)
class RetentionBoard:
    rows: list[RetentionRow]
    weeks: list[WeekBar]

    @property
    def busiest(self) -> int:
        return max((w.due + w.held for w in self.weeks), default=0)


def _deletions(case: CaseRecord) -> list[datetime]:
    """When the case's next deletions fall due: each category still kept, or its end."""
    if case.category_clocks:
        return [
            datetime.fromisoformat(c["ends_at"])
            for c in case.category_clocks
            if c.get("deleted_at") is None
        ]
    return [case.retention_end] if case.retention_end else []


def _days(until: datetime, now: datetime) -> int:
    return max(0, (_aware(until) - now).days)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class ComplianceService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.repo = CaseRepository(db)
        self.certificates = Certificates(db, settings.secret_key)

    def retention_board(self, within_days: int | None, now: datetime) -> RetentionBoard:
        """Archived cases with each category's countdown, filtered by when the next deletion
        falls due; and the deletions due over the next 90 days, week by week."""
        everyone = self.repo.retention_clocks(None)
        holds = self.repo.active_holds([c.id for c in everyone])
        horizon = now + timedelta(days=CHART_DAYS)
        weeks = [WeekBar(now + timedelta(weeks=n), 0, 0) for n in range(-(-CHART_DAYS // 7))]
        for case in everyone:
            for due in _deletions(case):
                due = _aware(due)
                if due < horizon:
                    n = max(0, (due - now).days // 7)
                    bar = weeks[n]
                    held = bool(holds.get(case.id))
                    weeks[n] = WeekBar(bar.starts, bar.due + (not held), bar.held + held)
        limit = now + timedelta(days=within_days) if within_days else None
        rows = [
            RetentionRow(
                case,
                holds.get(case.id, []),
                _days(case.retention_end, now) if case.retention_end else None,
                [
                    ClockView(
                        c["category"],
                        datetime.fromisoformat(c["ends_at"]),
                        _days(datetime.fromisoformat(c["ends_at"]), now),
                        c.get("deleted_at") is not None,
                    )
                    for c in case.category_clocks or []
                ],
            )
            for case in everyone
            if limit is None
            or (case.next_deletion_at is not None and _aware(case.next_deletion_at) < limit)
        ]
        return RetentionBoard(rows, weeks)

    def holds(
        self,
    ) -> tuple[
        list[tuple[LegalHoldRecord, CaseRecord | None]],
        list[tuple[LegalHoldRecord, CaseRecord | None]],
    ]:
        """Active holds (by review date) and recently released ones, each with its case."""
        active, released = self.repo.holds(active=True), self.repo.holds(active=False, limit=50)
        cases = {h.case_id: self.repo.get_case(h.case_id) for h in [*active, *released]}
        return [(h, cases[h.case_id]) for h in active], [(h, cases[h.case_id]) for h in released]

    def certificate(self, case_id: str) -> DeletionCertificate:
        """The case's deletion certificate; 404 saying why when there is none (yet)."""
        with self.db.session() as session:
            case = session.get(CaseRecord, case_id)
        if case is None:
            raise NotFound(f"no case {case_id!r}")
        certificate = self.certificates.for_case(case_id)
        if certificate is None:
            state = f"outcome {case.outcome}" if case.outcome else f"stage {case.stage}"
            raise NotFound(
                f"case {case_id!r} has no deletion certificate: it is issued once the "
                f"customer's data was deleted and verified (the case is at {state})"
            )
        return certificate

    def certificate_page(
        self, page: int, per_page: int
    ) -> tuple[Sequence[DeletionCertificate], int]:
        return self.certificates.page((page - 1) * per_page, per_page)

    def is_authentic(self, certificate: DeletionCertificate) -> bool:
        return self.certificates.is_authentic(certificate)
