"""Customers of the CRM, for the API: search and detail, with their cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api import schemas
from api.adapters import ApiAdapters
from api.errors import Forbidden, Invalid, NotFound
from api.service import case_summary
from closeout.access import owns_customer, sees_every_customer
from closeout.cases.models import CaseRecord
from closeout.connectors.records import records_held
from closeout.crm.port import CustomerDetails
from closeout.detection.repository import detection_repository
from closeout.settings import Settings
from closeout.tokens import Principal

# Exclusions are for a while, not for ever.
MAX_EXCLUSION = timedelta(days=366)


class CustomerService:
    def __init__(self, settings: Settings, adapters: ApiAdapters) -> None:
        self.repo = adapters.cases
        self.source = adapters.source
        self.data = adapters.data
        self.detection = detection_repository(settings, adapters.db)

    def search(
        self, q: str | None, status: str | None, limit: int, offset: int, user: Principal
    ) -> schemas.PageOut[schemas.CustomerOut]:
        owner = None if sees_every_customer(user.role) else user.name
        rows, total = self.source.search(q, status, limit, offset, owner=owner)
        open_ids = {
            c: self.repo.open_case_for(c)
            for c in self.repo.customers_with_open_cases([r.id for r in rows])
        }
        items = [self._out(r, open_ids.get(r.id)) for r in rows]
        return schemas.PageOut[schemas.CustomerOut](
            items=items, total=total, limit=limit, offset=offset
        )

    def _out(self, c: CustomerDetails, open_case: CaseRecord | None) -> schemas.CustomerOut:
        return schemas.CustomerOut(
            id=c.id,
            name=c.name,
            email=c.email,
            status=c.status,
            owner=c.owner,
            value_tier=c.value_tier,
            locale=c.locale,
            open_case=open_case is not None,
            open_case_id=open_case.id if open_case else None,
        )

    def get(self, customer_id: str, user: Principal) -> schemas.CustomerDetail:
        c = self.source.customer(customer_id)
        if c is None:
            raise NotFound(f"unknown customer {customer_id!r}")
        if not sees_every_customer(user.role):
            self._check_owner(customer_id, c.owner, user)
        open_case = self.repo.open_case_for(customer_id)
        return schemas.CustomerDetail(
            **self._out(c, open_case).model_dump(),
            phone=c.phone,
            created_at=c.created_at,
            closed_at=c.closed_at,
            record_counts=records_held(self.data, customer_id),
            cases=[case_summary(x) for x in self.repo.cases_for_customer(customer_id)],
        )

    @staticmethod
    def _check_owner(customer_id: str, owner: str, user: Principal) -> None:
        if not owns_customer(user.role, user.name, owner):
            raise Forbidden(f"customer {customer_id} is {owner}'s, not yours")

    def exclude(
        self, customer_id: str, body: schemas.ExclusionIn, user: Principal
    ) -> schemas.ExclusionOut:
        profile = self.source.get_profile(customer_id)
        if profile is None:
            raise NotFound(f"unknown customer {customer_id!r}")
        self._check_owner(customer_id, profile.owner, user)
        if body.until.tzinfo is None:
            raise Invalid("until needs a time zone (e.g. 2027-03-31T00:00:00Z)")
        now = datetime.now(UTC)
        if not now < body.until <= now + MAX_EXCLUSION:
            raise Invalid("until must be in the future and at most a year away")
        row = self.detection.exclude(customer_id, body.reason.strip(), user.name, body.until)
        return schemas.ExclusionOut.model_validate(row, from_attributes=True)
