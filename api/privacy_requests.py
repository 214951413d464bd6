"""The public request form (`/privacy/request`): anyone may ask for a customer's data to be
deleted by giving the customer's e-mail address; nothing starts until the request is confirmed
from that mailbox.

The form answers the same whatever the address (no account enumeration), and the mail is sent
after the answer, so its time says nothing either. An address held by customers gets, for each
of them, a signed link valid for a day; confirming it opens a customer_request case with the
identity proven, or, where the customer's case runs already, gives it the request as the
"delete my data" link would. Submissions are limited per client address and per e-mail address.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from temporalio.client import WorkflowUpdateFailedError

from api.adapters import ApiAdapters
from api.temporal_gateway import TemporalGateway
from closeout.contracts import Actor, CloseCustomerInput, CustomerAnswer
from closeout.domain import CUSTOMER_ACTOR_ROLE, DEFAULT_CHURN_CLASS, CustomerResponse, Trigger
from closeout.i18n import N_, catalog_for
from closeout.links import CustomerLink, LinkKind, LinkSigner
from closeout.mail import NoticeRenderer, OutgoingMail, SmtpMailer
from closeout.settings import Settings
from workflows.case_handles import case_handle
from workflows.case_start import open_case
from workflows.close_customer import CloseCustomerWorkflow

log = logging.getLogger("closeout.privacy")
# How long a confirmation link works.
CONFIRM_WITHIN = timedelta(days=1)
# Submissions a client address may make, and confirmation mails one e-mail address receives.
PER_CLIENT = parse("10 per hour")
PER_ADDRESS = parse("3 per day")
REQUESTER = Actor("customer (request form)", CUSTOMER_ACTOR_ROLE)


class RequestNotTaken(Exception):
    """A confirmed request the customer's case could not take; the message says why, in
    words for the customer (a catalog message)."""

    @property
    def reason(self) -> str:
        return str(self.args[0])


class PrivacyRequests:
    def __init__(self, settings: Settings, adapters: ApiAdapters, temporal: TemporalGateway):
        self.settings = settings
        self.source = adapters.source
        self.cases = adapters.cases
        self.temporal = temporal
        self.links = LinkSigner(settings.secret_key)
        self.mailer = SmtpMailer(settings)
        self.renderer = NoticeRenderer(settings)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def throttled(self, client: str) -> int | None:
        """Count a submission from `client`; the seconds to wait when it has used up its
        submissions (nothing is counted then)."""
        if self._limiter.hit(PER_CLIENT, "request-form", client):
            return None
        reset = self._limiter.get_window_stats(PER_CLIENT, "request-form", client).reset_time
        return max(1, math.ceil(reset - time.time()))

    async def send_confirmations(self, email: str, lang: str) -> int:
        """A confirmation link to `email` for each customer it belongs to (within the
        address's daily allowance); how many were sent. Runs after the form has answered."""
        customers = await asyncio.to_thread(self.source.customers_with_email, email)
        if not customers or not self._limiter.hit(PER_ADDRESS, "request-mail", email.lower()):
            return 0
        catalog = catalog_for(lang)
        expires = datetime.now(UTC) + CONFIRM_WITHIN
        for customer_id in customers:
            link = CustomerLink(
                str(uuid.uuid4()), customer_id, CustomerResponse.REQUEST_DELETION, expires
            )
            token = self.links.sign(link, LinkKind.REQUEST)
            url = f"{self.settings.base_url}/privacy/request/{token}?lang={lang}"
            subject, text, html = self.renderer.render(
                "request_confirm", catalog, confirm_url=url, hours=24
            )
            message_id = f"<request-{link.link_id}@closeout>"
            await self.mailer.send(OutgoingMail(message_id, email, subject, text, html))
        return len(customers)

    def verify(self, token: str) -> CustomerLink:
        """The confirmation a token stands for; LinkRefused when forged or expired."""
        return self.links.verify(token, kind=LinkKind.REQUEST)

    async def confirm(self, link: CustomerLink) -> str:
        """Start the request: a case on the law's clock, or the running case told. The case
        id. Confirming the same link again changes nothing."""
        customer_id = link.case_id
        profile = await asyncio.to_thread(self.source.get_profile, customer_id)
        if profile is None:
            raise RequestNotTaken(N_("We no longer hold an account under this address."))
        # The link fixes the case id: confirming twice cannot open two cases, and a link whose
        # case has ended opens none again.
        case_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"privacy-request/{link.link_id}"))
        earlier = await asyncio.to_thread(self.cases.get_case, case_id)
        if earlier is not None:
            if earlier.outcome is not None:
                raise RequestNotTaken(
                    N_("This link has already been used: your answer was recorded the first time.")
                )
            return case_id
        client = await self.temporal.client()
        opened = await open_case(
            client,
            CloseCustomerInput(
                case_id=case_id,
                customer_id=customer_id,
                trigger=Trigger.CUSTOMER_REQUEST,
                churn_class=DEFAULT_CHURN_CLASS[Trigger.CUSTOMER_REQUEST],
                policy=self.settings.policy_for(
                    Trigger.CUSTOMER_REQUEST, profile.value_tier, profile.country
                ),
                opened_by=REQUESTER.name,
                evidence={
                    "channel": "request form",
                    "requested_on": date.today().isoformat(),
                    "identity_verified": True,
                },
            ),
        )
        running = opened if isinstance(opened, str) else case_id
        if running == case_id:
            return case_id
        case = await asyncio.to_thread(self.cases.get_case, running)
        if case is None:
            raise RequestNotTaken(N_("Your request could not be taken just now: try again."))
        answer = CustomerAnswer(
            CustomerResponse.REQUEST_DELETION, REQUESTER, link_id=link.link_id, case_id=running
        )
        try:
            await case_handle(client, case.workflow_id, case.run_id).execute_update(
                CloseCustomerWorkflow.respond, answer
            )
        except WorkflowUpdateFailedError as exc:
            message = str(getattr(exc.cause, "message", ""))
            if "already been used" in message:
                return running  # confirmed before: the case has the request
            log.info("request for case %s refused: %s", running, message)
            raise RequestNotTaken(
                N_("Your account's closure has moved past the point where this answer applies.")
            ) from exc
        return running
