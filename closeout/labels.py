"""Words people read for the process's enums (pages and staff mails), through the catalogs."""

from __future__ import annotations

from closeout.cases.inbox import DueFilter, InboxSort
from closeout.domain import (
    ChurnClass,
    CustomerResponse,
    DataCategory,
    Outcome,
    Role,
    Stage,
    TaskDecision,
    TaskKind,
    TaskStatus,
    Trigger,
    ValueTier,
)
from closeout.i18n import N_

LABELS: dict[str, str] = {
    # stages
    Stage.OPENED: N_("Opened"),
    Stage.WIN_BACK: N_("Win-back"),
    Stage.NOTICE: N_("Notice"),
    Stage.APPROVAL: N_("Approval"),
    Stage.AWAITING_EFFECTIVE_DATE: N_("Effective date"),
    Stage.BACKUP: N_("Backup"),
    Stage.REVOKE_ACCESS: N_("Revoke access"),
    Stage.ARCHIVE: N_("Archive"),
    Stage.RETENTION: N_("Retention"),
    Stage.DELETION: N_("Deletion"),
    Stage.CLOSED: N_("Closed"),
    # outcomes
    Outcome.RETAINED: N_("Retained"),
    Outcome.REJECTED: N_("Rejected"),
    Outcome.CANCELLED: N_("Cancelled"),
    Outcome.REACTIVATED: N_("Reactivated"),
    Outcome.DELETED: N_("Deleted"),
    Outcome.MERGED: N_("Merged"),
    Outcome.INVALIDATED: N_("Invalidated"),
    # task kinds
    TaskKind.WIN_BACK: N_("Win-back"),
    TaskKind.APPROVAL: N_("Approval"),
    TaskKind.SECOND_APPROVAL: N_("Second approval"),
    TaskKind.OBJECTION_REVIEW: N_("Objection review"),
    TaskKind.CONTACT_REVIEW: N_("Contact review"),
    TaskKind.DATA_REVIEW: N_("Record review"),
    TaskKind.CUSTOMER_REPLY: N_("Customer reply"),
    # task status
    TaskStatus.OPEN: N_("Open"),
    TaskStatus.DONE: N_("Done"),
    TaskStatus.CANCELLED: N_("Cancelled"),
    # decisions
    TaskDecision.APPROVE: N_("Approve"),
    TaskDecision.REJECT: N_("Reject"),
    TaskDecision.DEFER: N_("Defer"),
    TaskDecision.REQUEST_INFO: N_("Request information"),
    TaskDecision.RETAINED: N_("Customer retained"),
    TaskDecision.FAILED: N_("Win-back failed"),
    TaskDecision.MERGE: N_("Merge into the record it duplicates"),
    TaskDecision.INVALIDATE: N_("Invalidate the record"),
    TaskDecision.KEEP: N_("Keep the record as it is"),
    # what a reply says (stay and object read as the customer's answers below)
    TaskDecision.CONFIRM: N_("Confirm the closure"),
    TaskDecision.REQUEST_DELETION: N_("Ask to delete their data"),
    TaskDecision.OTHER: N_("Something else: no change"),
    # data categories
    DataCategory.MARKETING_DATA: N_("Marketing data"),
    DataCategory.CONTACT_DATA: N_("Contact data"),
    DataCategory.INTERACTION_HISTORY: N_("Interaction history"),
    DataCategory.CONTRACTS: N_("Contracts"),
    DataCategory.ACCOUNTING_RECORDS: N_("Invoices and accounting records"),
    # triggers
    Trigger.INACTIVITY: N_("Inactivity"),
    Trigger.PAYMENT_ARREARS: N_("Payment arrears"),
    Trigger.UNPROFITABLE: N_("Unprofitable"),
    Trigger.RESOURCE_DRAIN: N_("Resource drain"),
    Trigger.RELATIONSHIP_BREAKDOWN: N_("Relationship breakdown"),
    Trigger.UNREACHABLE: N_("Unreachable"),
    Trigger.CUSTOMER_REQUEST: N_("Customer request"),
    Trigger.FRAUD: N_("Fraud"),
    Trigger.MANUAL: N_("Manual"),
    Trigger.DATA_QUALITY: N_("Data quality"),
    # churn classes
    ChurnClass.NATURAL: N_("Natural"),
    ChurnClass.COMPETITIVE: N_("Competitive"),
    ChurnClass.FAULT: N_("Our fault"),
    ChurnClass.NON_MALICIOUS: N_("Non-malicious"),
    ChurnClass.RETALIATORY: N_("Retaliatory"),
    ChurnClass.MALICIOUS: N_("Malicious"),
    # value tiers
    ValueTier.STANDARD: N_("Standard"),
    ValueTier.HIGH: N_("High value"),
    ValueTier.KEY: N_("Key account"),
    # roles
    Role.ACCOUNT_MANAGER: N_("Account manager"),
    Role.MANAGER: N_("Manager"),
    Role.COMPLIANCE_OFFICER: N_("Compliance officer"),
    Role.ADMIN: N_("Administrator"),
    Role.INTEGRATION: N_("Integration"),
    # inbox
    InboxSort.DUE: N_("Due date"),
    InboxSort.NEWEST: N_("Newest"),
    InboxSort.VALUE: N_("Value"),
    DueFilter.OVERDUE: N_("Overdue"),
    DueFilter.SOON: N_("Due soon"),
    "group:account-managers": N_("Account managers' queue"),
    "group:managers": N_("Managers' queue"),
    # a customer's answers, and how staff got one that did not come through the link
    CustomerResponse.STAY: N_("Stay: keep the account"),
    CustomerResponse.OBJECT: N_("Object to the closure"),
    CustomerResponse.CONFIRM_CLOSURE: N_("Confirm the closure"),
    CustomerResponse.DOWNLOAD_DATA: N_("Ask for their data"),
    "phone": N_("Phone"),
    "letter": N_("Letter"),
    "in person": N_("In person"),
    "e-mail": N_("E-mail"),
    # what came back on a case, and how it reached the case
    "inbound:reply": N_("Reply"),
    "inbound:auto_reply": N_("Automatic reply"),
    "inbound:bounce": N_("Delivery failed"),
    "inbound:delayed": N_("Delivery delayed"),
    "handoff:pending": N_("Waiting to reach the case"),
    "handoff:task": N_("Given to the owner to read"),
    "handoff:case_closed": N_("Came after the case ended"),
    "handoff:not_needed": N_("Recorded, nothing to decide"),
    # the inbox's actions on several tasks, and what became of each
    "bulk:claim": N_("Claim them"),
    "bulk:approve": N_("Approve them (approval tasks)"),
    "bulk:failed": N_("Win-back failed (win-back tasks)"),
    "claimed": N_("Claimed"),
    "approved": N_("Approved"),
    "win-back failed": N_("Win-back failed"),
    # insights: the funnel's steps, the win-back breakdowns, how long holds have stood
    "funnel:opened": N_("Opened"),
    "funnel:won_back": N_("Won back"),
    "funnel:rejected": N_("Rejected"),
    "funnel:cancelled": N_("Cancelled"),
    "funnel:archived": N_("Archived"),
    "funnel:deleted": N_("Deleted"),
    "funnel:reactivated": N_("Reactivated"),
    "funnel:merged": N_("Merged into another record"),
    "funnel:invalidated": N_("Invalidated records"),
    "by:trigger": N_("Trigger"),
    "by:churn_class": N_("Churn class"),
    "by:value_tier": N_("Value tier"),
    "by:owner": N_("Account manager"),
    "hold-age:under 30 days": N_("Under 30 days"),
    "hold-age:30 to 90 days": N_("30 to 90 days"),
    "hold-age:90 days to a year": N_("90 days to a year"),
    "hold-age:over a year": N_("Over a year"),
    "all_categories": N_("All categories"),
    "sla:on_time": N_("Decided on time"),
    "sla:late": N_("Decided late"),
    "sla:escalated": N_("Escalated to the managers"),
    "sla:open": N_("Waiting, not yet due"),
}


def label(value: object) -> str:
    """The catalog key for an enum value (the value itself when it has none)."""
    return LABELS.get(str(value), str(value)) if value is not None else ""
