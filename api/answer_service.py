"""Customers' own answers through signed links: read a link, answer once, download an export.

Nobody signs in here: the link is the customer's proof, so every refusal is counted (per
client address and minute) rather than trusted.
"""

from __future__ import annotations

from api import schemas
from api.adapters import ApiAdapters
from api.errors import Conflict, NotFound
from api.link_refusals import RefusedLinkCounter
from api.service import case_state
from api.temporal_gateway import TemporalGateway
from closeout.cases.models import CaseRecord
from closeout.contracts import Actor, CustomerAnswer
from closeout.crypto.data_keys import KeyDestroyed
from closeout.crypto.envelope import Unreadable
from closeout.crypto.purpose_keys import KeyPurpose
from closeout.domain import CUSTOMER_ACTOR_ROLE
from closeout.i18n import catalog_for
from closeout.links import CustomerLink, LinkRefused, LinkSigner
from closeout.settings import Settings
from workflows.close_customer import CloseCustomerWorkflow

# The actor of an answer a customer gives themselves; the workflow wants its link with it.
CUSTOMER = Actor("customer", CUSTOMER_ACTOR_ROLE)


class CustomerAnswers:
    def __init__(
        self, settings: Settings, adapters: ApiAdapters, temporal: TemporalGateway
    ) -> None:
        self.repo = adapters.cases
        self.source = adapters.source
        self.temporal = temporal
        self.links = LinkSigner(settings.secret_key)
        self.refused_links = RefusedLinkCounter(
            self.repo,
            settings.purpose_key(KeyPurpose.CLIENT_ADDRESSES),
            per_minute=settings.refused_links_per_minute,
        )
        self.vault = adapters.vault

    def _case(self, link: CustomerLink) -> CaseRecord:
        case = self.repo.get_case(link.case_id)
        if case is None:
            raise NotFound(f"unknown case {link.case_id!r}")
        return case

    async def answer(self, link: CustomerLink, comment: str | None) -> schemas.CaseStateOut:
        """The customer's own answer; the workflow accepts each link once."""
        if any(
            e.details.get("link_id") == link.link_id for e in self.repo.case_audit(link.case_id)
        ):
            raise Conflict("this link has already been used")
        case = self._case(link)
        answer = CustomerAnswer(
            link.action, CUSTOMER, comment, link_id=link.link_id, case_id=case.id
        )
        return await case_state(
            self.temporal, case, lambda h: h.execute_update(CloseCustomerWorkflow.respond, answer)
        )

    def catalog_of(self, link: CustomerLink) -> str:
        """The language of the customer a link was sent to."""
        case = self.repo.get_case(link.case_id)
        profile = self.source.get_profile(case.customer_id) if case else None
        return catalog_for(profile.locale if profile else None)

    def data_export(self, link: CustomerLink) -> bytes:
        """The export a data-export link points to; NotFound once it is gone."""
        case = self._case(link)
        try:
            data = self.vault.get_export(case.customer_id, link.link_id)
        except (KeyDestroyed, Unreadable):
            data = None  # the customer is deleted: their keys are gone
        if data is None:
            raise NotFound("the export is no longer available")
        return data

    def record_refusal(self, refusal: LinkRefused, client: str) -> None:
        """Refused links are counted per client address and minute, and audited without
        personal data: ids, the reason's kind and a count."""
        self.refused_links.refused(client, refusal)

    def retry_after(self, client: str) -> int | None:
        """Seconds a client that has had its refused links for the minute must wait."""
        return self.refused_links.retry_after(client)
