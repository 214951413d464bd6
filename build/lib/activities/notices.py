"""What notices say: customer-friendly reasons, marked for the message catalogs."""

from __future__ import annotations

from closeout.domain import Trigger
from closeout.i18n import N_

CUSTOMER_FRIENDLY_REASON: dict[Trigger, str] = {
    Trigger.INACTIVITY: N_("your account has not been used for a long time."),
    Trigger.PAYMENT_ARREARS: N_("invoices on your account have remained unpaid."),
    Trigger.UNPROFITABLE: N_("we can no longer offer your account on its current terms."),
    Trigger.RESOURCE_DRAIN: N_("we can no longer offer your account on its current terms."),
    Trigger.RELATIONSHIP_BREAKDOWN: N_("we have not been able to resolve the problems you raised."),
    Trigger.UNREACHABLE: N_("we have not been able to reach you at the contact details we hold."),
    Trigger.CUSTOMER_REQUEST: N_("you asked us to close your account."),
    Trigger.FRAUD: N_("of a serious breach of our terms of service."),
    Trigger.MANUAL: N_("of a decision by your account manager, who can explain it to you."),
}
