"""What compliance officers look up: retention clocks, deletion certificates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api.adapters import ApiAdapters
from api.errors import Conflict, NotFound
from closeout.archive import read_bundle
from closeout.cases.models import CaseRecord, LegalHoldRecord
from closeout.certificates.models import DeletionCertificate
from closeout.contracts import AuditEntry
from closeout.crypto.data_keys import ARCHIVE_SCOPE
from closeout.crypto.vault import category_scope
from closeout.domain import Stage
from closeout.tokens import Principal

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
    # The next page starts after this case (its next deletion and id); None on the last.
    more_after: tuple[datetime, str] | None = None

    @property
    def busiest(self) -> int:
        return max((w.due + w.held for w in self.weeks), default=0)


def _days(until: datetime, now: datetime) -> int:
    return max(0, (_aware(until) - now).days)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class ComplianceService:
    def __init__(self, adapters: ApiAdapters) -> None:
        self.db = adapters.db
        self.repo = adapters.cases
        self.certificates = adapters.certificates
        self.vault = adapters.vault

    def retention_board(
        self,
        within_days: int | None,
        now: datetime,
        after: tuple[datetime, str] | None = None,
        per_page: int = 50,
    ) -> RetentionBoard:
        """A page of archived cases with each category's countdown, soonest deletion first,
        filtered by when the next deletion falls due; and the deletions due over the next 90
        days, week by week (counted per day as the cases change, not from the cases)."""
        limit = now + timedelta(days=within_days) if within_days else None
        found = self.repo.retention_clocks(limit, after, per_page + 1)
        cases, more = found[:per_page], len(found) > per_page
        holds = self.repo.active_holds([c.id for c in cases])
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
            for case in cases
        ]
        last = cases[-1] if more else None
        return RetentionBoard(
            rows,
            self._weeks(now),
            (last.next_deletion_at, last.id) if last and last.next_deletion_at else None,
        )

    def _weeks(self, now: datetime) -> list[WeekBar]:
        today = now.astimezone(UTC).date()
        weeks = [WeekBar(now + timedelta(weeks=n), 0, 0) for n in range(-(-CHART_DAYS // 7))]
        for day, held, count in self.repo.deletions_due(today + timedelta(days=CHART_DAYS)):
            n = max(0, (day - today).days // 7)
            bar = weeks[n]
            weeks[n] = WeekBar(
                bar.starts, bar.due + (0 if held else count), bar.held + (count if held else 0)
            )
        return weeks

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

    def retained_data(self, case_id: str, actor: Principal) -> dict[str, Any]:
        """What is still kept of a restricted customer, unsealed for compliance (audited):
        the only export a restricted customer's data allows."""
        with self.db.session() as session:
            case = session.get(CaseRecord, case_id)
        if case is None:
            raise NotFound(f"no case {case_id!r}")
        if case.stage != Stage.RETENTION or case.outcome is not None:
            raise Conflict(
                f"case {case_id!r} is not in retention (stage {case.stage}): "
                "only an archived customer's retained data is exported here"
            )
        tables: dict[str, list[dict[str, Any]]] = {}
        categories: list[str] = []
        for record in self.repo.live_bundles(case_id):
            scope = category_scope(record.category) if record.category else ARCHIVE_SCOPE
            data = self.vault.get_bundle(case.customer_id, record.id, scope)
            if data is None:
                continue
            export = read_bundle(data, record.manifest_sha256)
            categories.append(record.category or "all")
            for name, rows in export.tables.items():
                known = {r.get("id") for r in tables.setdefault(name, [])}
                tables[name].extend(r for r in rows if r.get("id") not in known)
        self.repo.append_audit(
            case_id,
            AuditEntry(str(uuid.uuid4()), actor.name, "retained_data_exported",
                       datetime.now(UTC), None, {"categories": categories}),
        )  # fmt: skip
        return {"case_id": case_id, "customer_id": case.customer_id,
                "categories": categories, "tables": tables}  # fmt: skip

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
