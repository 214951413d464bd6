"""Customers' own requests to be deleted, on the law's clock: the open ones by days left, and
an extension with the reason the customer is told (workflows/case/own_request.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api import schemas
from api.adapters import ApiAdapters
from api.errors import Forbidden, Invalid, NotFound
from api.service import run_update
from api.temporal_gateway import TemporalGateway
from closeout.access import COMPLIANCE_ROLES, owns_customer
from closeout.cases.models import CaseRecord
from closeout.contracts import Actor, RequestExtension
from closeout.tokens import Principal
from workflows.close_customer import CloseCustomerWorkflow

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class OpenRequest:
    case: CaseRecord
    due_at: datetime
    # Whole days left until the due date (rounded down: -1 on the first day past it).
    days_left: int
    overdue: bool


def _days_left(due_at: datetime, now: datetime) -> int:
    return int((due_at - now).total_seconds() // DAY_SECONDS)


class RequestService:
    def __init__(self, adapters: ApiAdapters, temporal: TemporalGateway) -> None:
        self.repo = adapters.cases
        self.temporal = temporal

    def open_requests(self, now: datetime) -> list[OpenRequest]:
        """Every request not yet answered, the overdue first, then by days left."""
        found = []
        for case in self.repo.open_requests():
            due = case.request_due_at
            assert due is not None
            found.append(OpenRequest(case, due, _days_left(due, now), due < now))
        return found

    async def extend(
        self, case_id: str, body: schemas.RequestExtensionIn, user: Principal
    ) -> schemas.CaseStateOut:
        """More time to answer, up to the law's longest, with the reason mailed to them."""
        if body.until.tzinfo is None:
            raise Invalid("until needs a time zone (e.g. 2027-02-28T00:00:00Z)")
        case = self.repo.get_case(case_id)
        if case is None:
            raise NotFound(f"unknown case {case_id!r}")
        if user.role not in COMPLIANCE_ROLES and not owns_customer(
            user.role, user.name, case.owner
        ):
            raise Forbidden(f"case {case_id} is not one of your customers'")
        req = RequestExtension(body.until, body.reason, Actor(user.name, user.role), case.id)
        result = await run_update(
            self.temporal,
            case,
            lambda h: h.execute_update(CloseCustomerWorkflow.extend_request, req),
        )
        return schemas.CaseStateOut(case_id=case.id, stage=result.stage, outcome=result.outcome)
