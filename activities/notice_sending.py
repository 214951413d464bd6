"""Notices to customers: rendered in their language, sent once through the outbox, with
signed answer links; sealed ahead of a deletion when they must outlive the data."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.metrics import Counted, tally
from activities.notices import CUSTOMER_FRIENDLY_REASON
from activities.outcomes import permanent, with_details
from closeout.cases.models import NoticeRecord
from closeout.cases.repository import CaseRepository
from closeout.contracts import SendNotice
from closeout.crm.port import CustomerSource, MailContact
from closeout.domain import CustomerResponse, CustomerStatus, NoticeKind
from closeout.i18n import catalog_for, format_when, translations
from closeout.inbound.address import ReplyAddresses
from closeout.labels import LABELS
from closeout.links import CustomerLink, LinkKind, LinkSigner
from closeout.mail import Mailer, NoticeRenderer, OutgoingMail, PermanentMailError
from closeout.settings import Settings

# The answers each notice offers the customer, as signed links.
# What a restricted customer may still be told: what was deleted, or that they are back.
MAY_REACH_RESTRICTED = frozenset({NoticeKind.DELETION_CONFIRMATION, NoticeKind.REACTIVATED})
NOTICE_LINKS: dict[NoticeKind, tuple[CustomerResponse, ...]] = {
    NoticeKind.WIN_BACK: (CustomerResponse.STAY, CustomerResponse.REQUEST_DELETION),
    NoticeKind.ADVANCE_NOTICE: (
        CustomerResponse.OBJECT,
        CustomerResponse.DOWNLOAD_DATA,
        CustomerResponse.CONFIRM_CLOSURE,
        CustomerResponse.REQUEST_DELETION,
    ),
    NoticeKind.REMINDER: (CustomerResponse.OBJECT, CustomerResponse.REQUEST_DELETION),
    # While the policy's cooling-off runs, "keep my account" withdraws the request.
    NoticeKind.REQUEST_RECEIVED: (CustomerResponse.STAY,),
}


@dataclass(frozen=True)
class _Addressing:
    """A notice's outbox row and where it goes (`withheld`: to nobody, by restriction)."""

    record: NoticeRecord
    contact: MailContact | None = None
    withheld: bool = False


class NoticeActivities:
    """The customer's mail, bound to the CRM (for the contact), the outbox and SMTP."""

    def __init__(
        self, settings: Settings, source: CustomerSource, cases: CaseRepository, mailer: Mailer
    ) -> None:
        self.settings = settings
        self.source = source
        self.cases = cases
        self.mailer = mailer
        self.renderer = NoticeRenderer(settings)
        self.links = LinkSigner(settings.secret_key)
        self.replies = (
            ReplyAddresses(settings.secret_key, settings.inbound_domain)
            if settings.inbound_domain
            else None
        )

    @activity.defn
    async def send_notice(self, notice: SendNotice) -> bool:
        """Send one notice once; False when the recipient's server refused it for good."""
        message_id = f"<{notice.notice_id}@closeout>"
        addressing = await asyncio.to_thread(self._look_up, notice, message_id)
        record, contact = addressing.record, addressing.contact
        if record.status in ("sent", "withheld"):
            return True
        if record.status == "refused":
            return False
        if record.sealed is not None and record.recipient is not None:
            # Rendered before the customer's data was deleted: sent as it was sealed.
            address = record.recipient
            subject, text, html = (record.sealed[k] for k in ("subject", "text", "html"))
        else:
            if addressing.withheld:
                await asyncio.to_thread(
                    self.cases.mark_notice,
                    notice.notice_id,
                    "withheld",
                    None,
                    replace(
                        notice.audit,
                        action="notice_withheld",
                        reason="the customer is restricted",
                    ),
                )
                return True
            if contact is None:
                raise permanent("the customer has no contact to write to", "NoContact")
            address = contact.email
            subject, text, html = self._render(notice, contact, record.created_at)
        await self._begin_sending(notice)
        try:
            if "@" not in address:
                # Nowhere to write to: as a refusal for good, the owner reviews the contact.
                raise PermanentMailError("the customer's contact has no e-mail address")
            reply_to = self.replies.address_for(notice.case_id) if self.replies else None
            await self.mailer.send(
                OutgoingMail(message_id, address, subject, text, html, reply_to=reply_to)
            )
        except PermanentMailError as exc:
            tally(Counted.NOTICES_REFUSED, kind=notice.kind)
            try:
                await asyncio.to_thread(self.source.record_bounce, notice.customer_id, address)
            except ApplicationError as failed:  # the source could not count it: noted, not lost
                activity.logger.warning("the bounce was not counted at the source: %s", failed)
            await self._audit_notice(notice, "unreachable", "contact_unreachable")
            await asyncio.to_thread(
                self.cases.mark_notice,
                notice.notice_id,
                "refused",
                address,
                with_details(notice.audit, delivered=False, error=str(exc)),
            )
            return False
        except Exception:
            # Refused before the server took it (a cancelled attempt stays uncertain).
            tally(Counted.NOTICE_SEND_FAILURES, kind=notice.kind)
            await asyncio.to_thread(self.cases.release_sending, notice.notice_id)
            raise
        tally(Counted.NOTICES_SENT, kind=notice.kind)
        await asyncio.to_thread(
            self.cases.mark_notice,
            notice.notice_id,
            "sent",
            address,
            with_details(notice.audit, delivered=True),
        )
        return True

    def _render(
        self, notice: SendNotice, contact: MailContact, sent_at: datetime
    ) -> tuple[str, str, str]:
        catalog = catalog_for(contact.locale)
        words = translations(catalog)
        return self.renderer.render(
            notice.kind,
            catalog,
            name=contact.name,
            reason=translations(catalog).gettext(CUSTOMER_FRIENDLY_REASON[notice.trigger]),
            effective_date=format_when(notice.effective_at, catalog),
            retention_end=format_when(notice.retention_end, catalog),
            deleted_on=format_when(sent_at, catalog),
            kept_until=format_when(notice.kept_until, catalog) if notice.kept_until else None,
            kept=[
                (words.gettext(LABELS[k.category]), format_when(k.ends_at, catalog))
                for k in notice.kept
            ],
            due_date=format_when(notice.request_due_at, catalog),
            extension_reason=notice.reason,
            links=self._links(notice, sent_at),
            export_days=self.settings.export_ttl.days,
        )

    @activity.defn
    async def seal_notice(self, notice: SendNotice) -> bool:
        """Render a notice now, while the data it needs exists, to send it after deletion;
        False when the customer has no contact to write to."""
        message_id = f"<{notice.notice_id}@closeout>"
        record = await asyncio.to_thread(
            self.cases.prepare_notice, notice.notice_id, notice.case_id, notice.kind, message_id
        )
        if record.status != "pending":
            return record.status != "refused"
        contact = await asyncio.to_thread(self.source.primary_contact, notice.customer_id)
        if contact is None:
            return False
        subject, text, html = self._render(notice, contact, record.created_at)
        await asyncio.to_thread(
            self.cases.seal_notice,
            notice.notice_id,
            contact.email,
            {"subject": subject, "text": text, "html": html},
        )
        return True

    def _look_up(self, notice: SendNotice, message_id: str) -> _Addressing:
        """The notice's outbox row and, when it is still to be written, where it goes; one
        trip to the worker's threads for what would otherwise be three.

        A restricted customer's data is stored, not processed: no mail, except telling them
        what was deleted or that they are back.
        """
        record = self.cases.prepare_notice(
            notice.notice_id, notice.case_id, notice.kind, message_id
        )
        if record.status in ("sent", "withheld", "refused") or (
            record.sealed is not None and record.recipient is not None
        ):
            return _Addressing(record)
        if notice.kind not in MAY_REACH_RESTRICTED:
            profile = self.source.get_profile(notice.customer_id)
            if profile is not None and profile.status == CustomerStatus.RESTRICTED:
                return _Addressing(record, withheld=True)
        return _Addressing(record, self.source.primary_contact(notice.customer_id))

    async def _begin_sending(self, notice: SendNotice) -> None:
        """An attempt cut off after the server may have taken the message (a worker lost
        between the SMTP 250 and the outbox update) sends again with the same Message-ID,
        which receiving systems treat as the same message, and leaves an audit event."""
        if await asyncio.to_thread(self.cases.begin_sending, notice.notice_id):
            attempt = activity.info().attempt
            await self._audit_notice(
                notice, f"uncertain/{attempt}", "notice_delivery_uncertain", attempt=attempt
            )

    async def _audit_notice(
        self, notice: SendNotice, key: str, action: str, **details: object
    ) -> None:
        """An audit event about the notice, derived from its own: written once per key."""
        await asyncio.to_thread(
            self.cases.append_audit,
            notice.case_id,
            replace(
                notice.audit,
                event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{notice.audit.event_id}/{key}")),
                action=action,
                details={"notice": notice.kind, **details},
            ),
        )

    def _links(self, notice: SendNotice, sent_at: datetime) -> dict[str, str]:
        """The answer links a notice carries; the same notice always gets the same links."""
        expires = sent_at + self.settings.link_ttl
        base = self.settings.base_url
        if notice.kind is NoticeKind.DATA_EXPORT:
            link = CustomerLink(
                notice.notice_id,
                notice.case_id,
                CustomerResponse.DOWNLOAD_DATA,
                sent_at + self.settings.export_ttl,
            )
            return {"export": f"{base}/exports/{self.links.sign(link, LinkKind.EXPORT)}"}
        return {
            str(action): base
            + "/r/"
            + self.links.sign(
                CustomerLink(f"{notice.notice_id}.{action}", notice.case_id, action, expires)
            )
            for action in NOTICE_LINKS.get(notice.kind, ())
        }
