"""What notices say: customer-friendly reasons and date formatting."""

from __future__ import annotations

from datetime import datetime

from closeout.domain import Trigger

CUSTOMER_FRIENDLY_REASON: dict[Trigger, str] = {
    Trigger.INACTIVITY: "your account has not been used for a long time.",
    Trigger.PAYMENT_ARREARS: "invoices on your account have remained unpaid.",
    Trigger.UNPROFITABLE: "we can no longer offer your account on its current terms.",
    Trigger.RESOURCE_DRAIN: "we can no longer offer your account on its current terms.",
    Trigger.RELATIONSHIP_BREAKDOWN: "we have not been able to resolve the problems you raised.",
    Trigger.UNREACHABLE: "we have not been able to reach you at the contact details we hold.",
    Trigger.CUSTOMER_REQUEST: "you asked us to close your account.",
    Trigger.FRAUD: "of a serious breach of our terms of service.",
    Trigger.MANUAL: "of a decision by your account manager, who can explain it to you.",
}


def format_when(moment: datetime | None) -> str:
    return moment.strftime("%d %B %Y, %H:%M UTC") if moment else "(not set)"
