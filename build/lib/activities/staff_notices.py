"""Mails to staff: task reminders and escalations, and legal holds due for review."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

from temporalio import activity

from closeout.cases.repository import CaseRepository
from closeout.contracts import AuditEntry, PurgeRequest, StaffNotice
from closeout.domain import (
    ACCOUNT_MANAGER_GROUP,
    MANAGER_GROUP,
    SYSTEM_ACTOR,
    Role,
    StaffNoticeKind,
    is_group,
)
from closeout.i18n import catalog_for, format_when, translations
from closeout.labels import label
from closeout.mail import Mailer, NoticeRenderer, OutgoingMail, PermanentMailError
from closeout.settings import Settings
from closeout.users.accounts import Accounts

# Who reads a group's queue.
GROUP_ROLES: dict[str, Role] = {
    ACCOUNT_MANAGER_GROUP: Role.ACCOUNT_MANAGER,
    MANAGER_GROUP: Role.MANAGER,
}


class StaffActivities:
    def __init__(
        self, settings: Settings, cases: CaseRepository, accounts: Accounts, mailer: Mailer
    ) -> None:
        self.settings = settings
        self.cases = cases
        self.accounts = accounts
        self.mailer = mailer
        self.renderer = NoticeRenderer(settings)

    def _recipients(self, assignee: str) -> list[tuple[str, str]]:
        """(address, catalog) of the assignee, or of every member of an assignee group."""
        if is_group(assignee):
            role = GROUP_ROLES.get(assignee)
            users = self.accounts.with_roles(role) if role else []
            return [(u.email, catalog_for(u.locale)) for u in users]
        user = self.accounts.by_email(assignee)
        return [(assignee, catalog_for(user.locale if user else None))]

    @activity.defn
    async def notify_staff(self, notice: StaffNotice) -> int:
        """Mail each recipient once (one outbox row each); returns how many were reached."""
        recipients = await asyncio.to_thread(self._recipients, notice.assignee)
        reached = 0
        for address, catalog in recipients:
            one_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{notice.notice_id}/{address}"))
            message_id = f"<{one_id}@closeout>"
            record = await asyncio.to_thread(
                self.cases.prepare_notice, one_id, notice.case_id, notice.kind, message_id
            )
            if record.status == "sent":
                reached += 1
                continue
            if record.status == "refused":
                continue
            kind_label = translations(catalog).gettext(label(notice.task_kind))
            subject, text, html = self.renderer.render(
                notice.kind,
                catalog,
                task_kind=kind_label,
                customer_id=notice.customer_id,
                due=format_when(notice.due_at, catalog),
                task_url=f"{self.settings.base_url}/tasks/{notice.task_id}",
            )
            audit = replace(
                notice.audit,
                event_id=one_id,
                details={**notice.audit.details, "recipient_role": "staff"},
            )
            try:
                await self.mailer.send(OutgoingMail(message_id, address, subject, text, html))
            except PermanentMailError:
                await asyncio.to_thread(self.cases.mark_notice, one_id, "refused", address, audit)
                continue
            await asyncio.to_thread(self.cases.mark_notice, one_id, "sent", address, audit)
            reached += 1
        return reached

    @activity.defn
    async def remind_hold_reviews(self, req: PurgeRequest) -> int:
        """Tell the compliance officers of every legal hold whose review date has come (once
        per hold); returns how many holds were due."""
        due = await asyncio.to_thread(self.cases.holds_due_for_review, req.now)
        officers = await asyncio.to_thread(self.accounts.with_roles, Role.COMPLIANCE_OFFICER)
        for hold in due:
            case = await asyncio.to_thread(self.cases.get_case, hold.case_id)
            customer_id = case.customer_id if case else "?"
            for officer in officers:
                catalog = catalog_for(officer.locale)
                one_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{hold.id}/review/{officer.email}"))
                message_id = f"<{one_id}@closeout>"
                record = await asyncio.to_thread(
                    self.cases.prepare_notice,
                    one_id,
                    hold.case_id,
                    StaffNoticeKind.HOLD_REVIEW,
                    message_id,
                )
                if record.status != "pending":
                    continue
                subject, text, html = self.renderer.render(
                    StaffNoticeKind.HOLD_REVIEW,
                    catalog,
                    customer_id=customer_id,
                    review_at=format_when(hold.review_at, catalog),
                    reason=hold.reason,
                    reference=hold.reference,
                    holds_url=f"{self.settings.base_url}/compliance/holds",
                )
                audit = AuditEntry(one_id, SYSTEM_ACTOR, "notice_sent", req.now, None, {
                    "kind": StaffNoticeKind.HOLD_REVIEW, "recipient_role": "staff"
                })  # fmt: skip
                status = "sent"
                try:
                    await self.mailer.send(
                        OutgoingMail(message_id, officer.email, subject, text, html)
                    )
                except PermanentMailError:
                    status = "refused"
                await asyncio.to_thread(
                    self.cases.mark_notice, one_id, status, officer.email, audit
                )
            await asyncio.to_thread(
                self.cases.mark_hold_reminded,
                hold.id,
                AuditEntry(
                    str(uuid.uuid5(uuid.NAMESPACE_URL, f"{hold.id}/review-due")),
                    SYSTEM_ACTOR,
                    "legal_hold_review_due",
                    req.now,
                    None,
                    {"hold_id": hold.id, "compliance_officers": len(officers)},
                ),
            )
        return len(due)
