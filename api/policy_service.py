"""A changed retention policy: which open cases it would move, and how (a dry run); then
applied to their running workflows."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio.service import RPCError

from api.errors import NotFound
from api.service import run_update
from api.temporal_gateway import TemporalGateway
from closeout.cases.models import CaseRecord
from closeout.cases.repository import CaseRepository
from closeout.contracts import Actor, CaseStatus, RetentionPeriodsChange
from closeout.domain import DataCategory
from closeout.policy_config import PolicyConfig
from closeout.settings import Settings
from closeout.tokens import Principal
from workflows.case_handles import case_status
from workflows.close_customer import CloseCustomerWorkflow


class CategoryMove(BaseModel):
    category: DataCategory
    # Archived cases: the category's end moves. Cases not archived yet: its period changes.
    ends_at: datetime | None = None
    new_ends_at: datetime | None = None
    period: timedelta | None = None
    new_period: timedelta | None = None


class CaseMove(BaseModel):
    case_id: str
    customer_id: str
    stage: str
    jurisdiction: str | None
    moves: list[CategoryMove]


class PolicyChanges(BaseModel):
    policy: str
    open_cases: int
    cases: list[CaseMove]
    # Open cases the change does not touch, and why (one period for all, not reachable...).
    untouched: dict[str, str]


class PolicyApplied(PolicyChanges):
    applied: int


def _moves(status: CaseStatus, new: dict[DataCategory, timedelta]) -> list[CategoryMove]:
    if status.category_clocks and status.retention_started_at is not None:
        start = status.retention_started_at
        return [
            CategoryMove(
                category=c.category, ends_at=c.ends_at, new_ends_at=start + new[c.category]
            )
            for c in status.category_clocks
            if c.deleted_at is None and c.category in new and start + new[c.category] != c.ends_at
        ]
    old = status.category_retention or {}
    return [
        CategoryMove(category=c, period=old.get(c), new_period=period)
        for c, period in new.items()
        if old.get(c) != period
    ]


class PolicyService:
    def __init__(
        self, settings: Settings, cases: CaseRepository, temporal: TemporalGateway
    ) -> None:
        self.settings = settings
        self.repo = cases
        self.temporal = temporal

    def _policy(self, name: str) -> PolicyConfig:
        policy = self.settings.available_policies.get(name)
        if policy is None:
            known = ", ".join(sorted(self.settings.available_policies))
            raise NotFound(f"no policy {name!r} in the configuration (known: {known})")
        return policy

    async def _status(self, case: CaseRecord) -> CaseStatus | None:
        client = await self.temporal.client()
        try:
            return await case_status(client, case.workflow_id, case.id)
        except RPCError:
            return None

    async def changes(self, name: str) -> PolicyChanges:
        """What applying the configured policy to its open cases would change (nothing is)."""
        policy = self._policy(name)
        cases: list[CaseMove] = []
        untouched: dict[str, str] = {}
        open_cases = self.repo.open_cases_under(name)
        for case in open_cases:
            status = await self._status(case)
            if status is None:
                untouched[case.id] = "the workflow did not answer"
                continue
            new = policy.periods_for(status.jurisdiction)
            if new is None:
                untouched[case.id] = "the policy keeps every category for one period"
            elif status.stage == "retention" and not status.category_clocks:
                untouched[case.id] = "archived under one period for every category"
            elif status.stage in ("deletion", "closed"):
                untouched[case.id] = f"the case is at {status.stage}"
            elif moves := _moves(status, new):
                cases.append(
                    CaseMove(
                        case_id=case.id,
                        customer_id=case.customer_id,
                        stage=status.stage,
                        jurisdiction=status.jurisdiction,
                        moves=moves,
                    )
                )
        return PolicyChanges(
            policy=name, open_cases=len(open_cases), cases=cases, untouched=untouched
        )

    async def apply(self, name: str, reason: str, actor: Principal) -> PolicyApplied:
        """Send the changed periods to every open case the dry run says would move."""
        preview = await self.changes(name)
        policy = self._policy(name)
        applied = 0
        for move in preview.cases:
            case = self.repo.get_case(move.case_id)
            assert case is not None
            periods = policy.periods_for(move.jurisdiction) or {}
            request = RetentionPeriodsChange(
                name, periods, reason, Actor(actor.name, str(actor.role)), case_id=case.id
            )
            await run_update(
                self.temporal,
                case,
                lambda h, r=request: h.execute_update(  # type: ignore[misc]
                    CloseCustomerWorkflow.apply_retention_periods, r
                ),
            )
            applied += 1
        return PolicyApplied(**preview.model_dump(), applied=applied)
