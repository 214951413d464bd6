"""The close-customer vocabulary: triggers, churn classes, stages, outcomes, decisions."""

from __future__ import annotations

from enum import StrEnum


class Trigger(StrEnum):
    """Why a case was opened (domain §1)."""

    INACTIVITY = "inactivity"
    PAYMENT_ARREARS = "payment_arrears"
    UNPROFITABLE = "unprofitable"
    RESOURCE_DRAIN = "resource_drain"
    RELATIONSHIP_BREAKDOWN = "relationship_breakdown"
    UNREACHABLE = "unreachable"
    CUSTOMER_REQUEST = "customer_request"
    FRAUD = "fraud"
    MANUAL = "manual"
    # A duplicate or invalid record (the same e-mail, phone or tax id as another customer, or
    # no way to reach them): reviewed (merge, invalidate or keep), never closed as it is.
    DATA_QUALITY = "data_quality"


class ChurnClass(StrEnum):
    """What kind of churn a case is (domain §2)."""

    NATURAL = "natural"
    COMPETITIVE = "competitive"
    FAULT = "fault"
    NON_MALICIOUS = "non_malicious"
    RETALIATORY = "retaliatory"
    MALICIOUS = "malicious"

    @property
    def voluntary(self) -> bool:
        """True when the customer leaves, False when the company ends the relationship."""
        return self in (ChurnClass.NATURAL, ChurnClass.COMPETITIVE, ChurnClass.FAULT)


# The class a trigger suggests when the caller does not say; an account manager may correct it.
DEFAULT_CHURN_CLASS: dict[Trigger, ChurnClass] = {
    Trigger.INACTIVITY: ChurnClass.NATURAL,
    Trigger.PAYMENT_ARREARS: ChurnClass.NON_MALICIOUS,
    Trigger.UNPROFITABLE: ChurnClass.NON_MALICIOUS,
    Trigger.RESOURCE_DRAIN: ChurnClass.NON_MALICIOUS,
    Trigger.RELATIONSHIP_BREAKDOWN: ChurnClass.FAULT,
    Trigger.UNREACHABLE: ChurnClass.NATURAL,
    Trigger.CUSTOMER_REQUEST: ChurnClass.NATURAL,
    Trigger.FRAUD: ChurnClass.MALICIOUS,
    Trigger.MANUAL: ChurnClass.NON_MALICIOUS,
    # No churn until the review says so: a record merged or invalidated is no customer lost.
    Trigger.DATA_QUALITY: ChurnClass.NATURAL,
}


def skips_win_back(trigger: Trigger, churn_class: ChurnClass) -> bool:
    """Fraud and malicious churn are closed straight away: no win-back attempt."""
    return trigger is Trigger.FRAUD or churn_class is ChurnClass.MALICIOUS


class Stage(StrEnum):
    """Where a case is in the close-customer process, in order."""

    OPENED = "opened"
    WIN_BACK = "win_back"
    NOTICE = "notice"
    APPROVAL = "approval"
    AWAITING_EFFECTIVE_DATE = "awaiting_effective_date"
    BACKUP = "backup"
    REVOKE_ACCESS = "revoke_access"
    ARCHIVE = "archive"
    RETENTION = "retention"
    DELETION = "deletion"
    CLOSED = "closed"

    @property
    def cancellable(self) -> bool:
        """A case can be cancelled until access revocation starts."""
        return STAGE_ORDER.index(self) < STAGE_ORDER.index(Stage.REVOKE_ACCESS)


STAGE_ORDER: list[Stage] = list(Stage)


class DataCategory(StrEnum):
    """Kinds of customer data, each kept for its own retention period (domain §3.8)."""

    MARKETING_DATA = "marketing_data"
    CONTACT_DATA = "contact_data"
    INTERACTION_HISTORY = "interaction_history"
    CONTRACTS = "contracts"
    ACCOUNTING_RECORDS = "accounting_records"


class Outcome(StrEnum):
    """How a case ended."""

    RETAINED = "retained"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    REACTIVATED = "reactivated"
    DELETED = "deleted"
    # A data-quality review: the record was a duplicate folded into another, or invalid.
    MERGED = "merged"
    INVALIDATED = "invalidated"


class TaskKind(StrEnum):
    """What a human task asks of its assignee."""

    WIN_BACK = "win_back"
    APPROVAL = "approval"
    SECOND_APPROVAL = "second_approval"
    OBJECTION_REVIEW = "objection_review"
    # A notice was refused for good by the customer's mail server.
    CONTACT_REVIEW = "contact_review"
    # A duplicate or invalid record: merge it into another customer, invalidate it, or keep it.
    DATA_REVIEW = "data_review"
    # The customer replied to a notice by mail: the owner says what the reply means.
    CUSTOMER_REPLY = "customer_reply"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Assignment(StrEnum):
    """How a task changes hands."""

    CLAIM = "claim"
    UNCLAIM = "unclaim"
    DELEGATE = "delegate"

    @property
    def audit_action(self) -> str:
        return f"task_{self.value.removesuffix('e')}ed"


# Task queues shared by a group, claimed by one of its members (assignees that are not people).
ACCOUNT_MANAGER_GROUP = "group:account-managers"
MANAGER_GROUP = "group:managers"


def is_group(assignee: str) -> bool:
    return assignee.startswith("group:")


def group_of(kind: TaskKind) -> str:
    """The queue a task goes back to when it is unclaimed."""
    return MANAGER_GROUP if kind is TaskKind.SECOND_APPROVAL else ACCOUNT_MANAGER_GROUP


class TaskDecision(StrEnum):
    """A human decision on a task; which ones a task accepts depends on its kind."""

    APPROVE = "approve"
    REJECT = "reject"
    DEFER = "defer"
    REQUEST_INFO = "request_info"
    RETAINED = "retained"
    FAILED = "failed"
    MERGE = "merge"
    INVALIDATE = "invalidate"
    KEEP = "keep"
    # What a customer's reply says, as its owner reads it (a customer_reply task).
    STAY = "stay"
    OBJECT = "object"
    CONFIRM = "confirm"
    REQUEST_DELETION = "request_deletion"
    OTHER = "other"


ALLOWED_DECISIONS: dict[TaskKind, frozenset[TaskDecision]] = {
    TaskKind.WIN_BACK: frozenset({TaskDecision.RETAINED, TaskDecision.FAILED}),
    TaskKind.APPROVAL: frozenset(
        {TaskDecision.APPROVE, TaskDecision.REJECT, TaskDecision.DEFER, TaskDecision.REQUEST_INFO}
    ),
    TaskKind.SECOND_APPROVAL: frozenset(
        {TaskDecision.APPROVE, TaskDecision.REJECT, TaskDecision.DEFER, TaskDecision.REQUEST_INFO}
    ),
    # Reviewing an objection: approve = the closure goes on, reject = the customer stays.
    TaskKind.OBJECTION_REVIEW: frozenset({TaskDecision.APPROVE, TaskDecision.REJECT}),
    # Approve = the contact data is dealt with, the closure goes on; reject = the customer stays.
    TaskKind.CONTACT_REVIEW: frozenset({TaskDecision.APPROVE, TaskDecision.REJECT}),
    TaskKind.DATA_REVIEW: frozenset(
        {TaskDecision.MERGE, TaskDecision.INVALIDATE, TaskDecision.KEEP}
    ),
    TaskKind.CUSTOMER_REPLY: frozenset(
        {
            TaskDecision.STAY,
            TaskDecision.OBJECT,
            TaskDecision.CONFIRM,
            TaskDecision.REQUEST_DELETION,
            TaskDecision.OTHER,
        }
    ),
}

DECISIONS_NEEDING_COMMENT = frozenset(
    {TaskDecision.REJECT, TaskDecision.DEFER, TaskDecision.INVALIDATE}
)


class CustomerResponse(StrEnum):
    """An answer from the customer, through a notice's link or relayed by staff."""

    STAY = "stay"
    OBJECT = "object"
    CONFIRM_CLOSURE = "confirm_closure"
    DOWNLOAD_DATA = "download_data"
    # "Delete my data": the customer's own request, on the law's clock from then on.
    REQUEST_DELETION = "request_deletion"


class NoticeKind(StrEnum):
    """The messages a customer receives."""

    WIN_BACK = "win_back"
    ADVANCE_NOTICE = "advance_notice"
    REMINDER = "reminder"
    CLOSED = "closed"
    REACTIVATED = "reactivated"
    DATA_EXPORT = "data_export"
    # After verified deletion, where the policy asks for it.
    DELETION_CONFIRMATION = "deletion_confirmation"
    # A customer's own request: received (with the date it is answered by), and extended.
    REQUEST_RECEIVED = "request_received"
    REQUEST_EXTENDED = "request_extended"


class StaffNoticeKind(StrEnum):
    """Messages to the people who work the tasks."""

    TASK_REMINDER = "task_reminder"
    TASK_ESCALATED = "task_escalated"
    # To compliance officers: a legal hold's review date has come.
    HOLD_REVIEW = "hold_review"


class CustomerStatus(StrEnum):
    """A customer's status in the CRM."""

    ACTIVE = "active"
    CLOSING = "closing"
    CLOSED = "closed"
    # Archived, only what retention requires is left: stored, not processed (no mail, no
    # exports except to compliance).
    RESTRICTED = "restricted"
    # After a data-quality review: folded into another customer's record, or not a customer.
    MERGED = "merged"
    INVALID = "invalid"


class ValueTier(StrEnum):
    STANDARD = "standard"
    HIGH = "high"
    KEY = "key"


class Role(StrEnum):
    """Who may do what through the API."""

    ACCOUNT_MANAGER = "account_manager"
    # The escalation and second-approval group.
    MANAGER = "manager"
    COMPLIANCE_OFFICER = "compliance_officer"
    ADMIN = "admin"
    # A CRM or another system calling the API with a token (webhooks); never a person.
    INTEGRATION = "integration"


SYSTEM_ACTOR = "system"
# The role a customer acts in when answering through a notice's signed link.
CUSTOMER_ACTOR_ROLE = "customer"


def mailable(text: str) -> bool:
    """Text that can go into a customer's mail: valid Unicode (no lone surrogates) and no
    control characters but line breaks and tabs."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return all(c >= " " or c in "\n\r\t" for c in text)
