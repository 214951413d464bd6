"""What crosses the workflow boundary: small frozen dataclasses of ids, enums and times.

Never personal data: names, emails and records stay in the CRM and the archive store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from closeout.domain import (
    Assignment,
    ChurnClass,
    CustomerResponse,
    CustomerStatus,
    DataCategory,
    NoticeKind,
    Outcome,
    StaffNoticeKind,
    Stage,
    TaskDecision,
    TaskKind,
    TaskStatus,
    Trigger,
)

# ---------------------------------------------------------------- workflow input and queries


@dataclass(frozen=True)
class CloseCustomerInput:
    case_id: str
    customer_id: str
    trigger: Trigger
    churn_class: ChurnClass
    policy: str
    opened_by: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseResult:
    case_id: str
    outcome: Outcome


@dataclass(frozen=True)
class TaskView:
    task_id: str
    kind: TaskKind
    assignee: str
    created_at: datetime
    due_at: datetime | None


@dataclass(frozen=True)
class HoldView:
    hold_id: str
    reason: str
    placed_by: str
    placed_at: datetime


@dataclass(frozen=True)
class CategoryClock:
    category: DataCategory
    ends_at: datetime
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class CaseStatus:
    case_id: str
    customer_id: str
    stage: Stage
    outcome: Outcome | None
    trigger: Trigger
    churn_class: ChurnClass
    policy: str
    pending_tasks: list[TaskView]
    legal_holds: list[HoldView]
    effective_at: datetime | None
    retention_end: datetime | None
    next_timer: datetime | None
    # During retention by category: each category's end, and when it was deleted.
    category_clocks: list[CategoryClock] = field(default_factory=list)
    # The terms the case runs under: jurisdiction, periods by category, when retention began.
    jurisdiction: str | None = None
    category_retention: dict[DataCategory, timedelta] | None = None
    retention_started_at: datetime | None = None


# ---------------------------------------------------------------- human requests (Updates)


@dataclass(frozen=True)
class Actor:
    name: str
    role: str


@dataclass(frozen=True)
class DecisionRequest:
    task_id: str
    decision: TaskDecision
    actor: Actor
    comment: str | None = None
    defer_until: datetime | None = None
    # A data review merged into another customer: which (one of the duplicates found).
    merge_into: str | None = None


@dataclass(frozen=True)
class DecisionResult:
    task_id: str
    decision: TaskDecision
    stage: Stage


@dataclass(frozen=True)
class AssignRequest:
    """Claim a group's task, hand it back to the group, or delegate it to someone."""

    task_id: str
    action: Assignment
    actor: Actor
    to: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class AssignResult:
    task_id: str
    assignee: str
    stage: Stage


@dataclass(frozen=True)
class RequestExtension:
    """More time to answer a customer's own request: the new date, and why (mailed to them)."""

    until: datetime
    reason: str
    actor: Actor
    case_id: str | None = None


@dataclass(frozen=True)
class ReplyReceived:
    """A customer's reply to a notice, kept sealed in the read model, handed to its case."""

    inbound_id: str
    received_at: datetime
    actor: Actor
    case_id: str | None = None


@dataclass(frozen=True)
class ReplyHanded:
    """The case has the reply: the customer_reply task its owner classifies it in."""

    inbound_id: str
    task_id: str


@dataclass(frozen=True)
class EvidenceRequest:
    """A further trigger found for a customer whose case is open (detection, a webhook)."""

    trigger: Trigger
    evidence: dict[str, Any]
    actor: Actor
    # The case the request is for: a request copied into another case's workflow is refused.
    case_id: str | None = None


@dataclass(frozen=True)
class CustomerAnswer:
    response: CustomerResponse
    actor: Actor
    comment: str | None = None
    # The signed link the customer followed, if any: each link works once.
    link_id: str | None = None
    # The case the request is for: a request copied into another case's workflow is refused.
    case_id: str | None = None


@dataclass(frozen=True)
class CancelRequest:
    reason: str
    actor: Actor
    # The case the request is for: a request copied into another case's workflow is refused.
    case_id: str | None = None


@dataclass(frozen=True)
class HoldRequest:
    reason: str
    actor: Actor
    reference: str | None = None
    # When compliance should look at the hold again (a reminder goes out then).
    review_at: datetime | None = None
    # The case the request is for: a request copied into another case's workflow is refused.
    case_id: str | None = None


@dataclass(frozen=True)
class HoldReleaseRequest:
    hold_id: str
    reason: str
    actor: Actor
    # The case the request is for: a request copied into another case's workflow is refused.
    case_id: str | None = None


@dataclass(frozen=True)
class RetentionChange:
    retention_end: datetime
    reason: str
    actor: Actor
    # During retention by category: the one category whose end moves (all when None).
    category: DataCategory | None = None
    # The case the request is for: a request copied into another case's workflow is refused.
    case_id: str | None = None


@dataclass(frozen=True)
class RetentionPeriodsChange:
    """A changed policy's periods by category, applied to a running case."""

    policy: str
    periods: dict[DataCategory, timedelta]
    reason: str
    actor: Actor
    # The case the request is for: a request copied into another case's workflow is refused.
    case_id: str | None = None


@dataclass(frozen=True)
class ReactivateRequest:
    reason: str
    actor: Actor
    # The case the request is for: a request copied into another case's workflow is refused.
    case_id: str | None = None


@dataclass(frozen=True)
class StageResult:
    """What a human request changed: the case's stage and outcome right after it."""

    stage: Stage
    outcome: Outcome | None
    hold_id: str | None = None
    retention_end: datetime | None = None


# ---------------------------------------------------------------- activity inputs and results


@dataclass(frozen=True)
class AuditEntry:
    """One audit event; its id comes from the workflow so a retried write is written once."""

    event_id: str
    actor: str
    action: str
    at: datetime
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TermsRequest:
    customer_id: str
    policy: str


@dataclass(frozen=True)
class CaseTerms:
    owner: str
    value_tier: str
    win_back_window: timedelta
    notice_period: timedelta
    approval_due: timedelta
    retention: timedelta
    four_eyes: bool
    reminder_before: timedelta | None = None
    task_reminder_before: timedelta | None = None
    deletion_confirmation: bool = False
    # Retention per data category for this customer's jurisdiction; None: every category
    # is kept for `retention` and deleted at once.
    category_retention: dict[DataCategory, timedelta] | None = None
    jurisdiction: str | None = None
    # A customer's own request: answered within `request_deadline` (extendable by at most
    # `request_extension_max`), keeping only `legal_categories`; None on cases opened before.
    request_deadline: timedelta | None = None
    request_extension_max: timedelta | None = None
    legal_categories: list[DataCategory] | None = None
    request_identity_check: bool = True
    request_cooling_off: timedelta | None = None


@dataclass(frozen=True)
class CaseOpened:
    case: CloseCustomerInput
    workflow_id: str
    run_id: str
    audit: AuditEntry


@dataclass(frozen=True)
class CaseChange:
    """A change to the case row plus the audit event that explains it."""

    case_id: str
    audit: AuditEntry
    stage: Stage | None = None
    outcome: Outcome | None = None
    effective_at: datetime | None = None
    retention_end: datetime | None = None
    # Retention by category: every category's clock as it now stands.
    category_clocks: list[CategoryClock] | None = None
    # A customer's own request: when it is due, and when it was answered.
    request_due_at: datetime | None = None
    request_answered_at: datetime | None = None


@dataclass(frozen=True)
class OpenTask:
    task_id: str
    case_id: str
    customer_id: str
    kind: TaskKind
    assignee: str
    due_at: datetime | None
    audit: AuditEntry
    note: str | None = None
    # A customer_reply task: the reply it is about (an inbound_message row).
    inbound_id: str | None = None


@dataclass(frozen=True)
class TaskReassigned:
    task_id: str
    assignee: str
    audit: AuditEntry
    note: str | None = None
    escalated: bool = False


@dataclass(frozen=True)
class EvidenceAdded:
    case_id: str
    trigger: Trigger
    evidence: dict[str, Any]
    audit: AuditEntry


@dataclass(frozen=True)
class StaffNotice:
    """A reminder or an escalation mail about a task, to its assignee or their group."""

    notice_id: str
    case_id: str
    task_id: str
    task_kind: TaskKind
    customer_id: str
    kind: StaffNoticeKind
    assignee: str
    due_at: datetime
    audit: AuditEntry


@dataclass(frozen=True)
class CloseTask:
    task_id: str
    status: TaskStatus
    audit: AuditEntry
    decision: TaskDecision | None = None
    comment: str | None = None
    decided_by: str | None = None
    defer_until: datetime | None = None


@dataclass(frozen=True)
class SendNotice:
    notice_id: str
    case_id: str
    customer_id: str
    kind: NoticeKind
    trigger: Trigger
    audit: AuditEntry
    effective_at: datetime | None = None
    retention_end: datetime | None = None
    # A deletion confirmation sent while some categories are still kept (restricted).
    kept_until: datetime | None = None
    # A customer's own request: when it is answered by, and why that date moved.
    # A deletion confirmation: each category still kept (restricted), until when.
    kept: list[CategoryClock] = field(default_factory=list)
    request_due_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class HoldPlaced:
    hold_id: str
    case_id: str
    reason: str
    reference: str | None
    placed_by: str
    audit: AuditEntry
    review_at: datetime | None = None


@dataclass(frozen=True)
class HoldReleased:
    hold_id: str
    released_by: str
    reason: str
    audit: AuditEntry


@dataclass(frozen=True)
class CustomerStep:
    """A side effect on one customer's data, as part of one case."""

    case_id: str
    customer_id: str
    audit: AuditEntry
    bundle_id: str | None = None
    # The data categories the step acts on (DataCategory values); empty: every one.
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomerStatusChange:
    case_id: str
    customer_id: str
    status: CustomerStatus
    audit: AuditEntry


@dataclass(frozen=True)
class BackupResult:
    bundle_id: str
    location: str
    manifest_sha256: str
    size_bytes: int
    record_counts: dict[str, int]


# ---------------------------------------------------------------- housekeeping


@dataclass(frozen=True)
class PurgeRequest:
    """Remove what has outlived its purpose as of `now` (the workflow's clock)."""

    now: datetime


@dataclass(frozen=True)
class PurgeResult:
    exports_purged: int


@dataclass(frozen=True)
class ShredResult:
    histories_shredded: int


# ---------------------------------------------------------------- detection


@dataclass(frozen=True)
class DetectionInput:
    """A detection run; a continued run carries its place and its totals so far."""

    run_id: str | None = None
    phase: str = "scan"  # scan → open → evidence → finish
    after: str | None = None
    started: int = 0
    evidence_added: int = 0
    skipped: int = 0
    page_size: int = 500
    # Pages per workflow run before it continues as new (keeps each history short).
    pages_per_run: int = 20


@dataclass(frozen=True)
class ScanRequest:
    run_id: str
    now: datetime


@dataclass(frozen=True)
class ScanSummary:
    run_id: str
    flagged: int
    new: int
    open_case: int
    excluded: int


@dataclass(frozen=True)
class CandidatePage:
    run_id: str
    after: str | None
    limit: int


@dataclass(frozen=True)
class PageOutcome:
    last: str | None
    done: int
    skipped: int
    finished: bool


@dataclass(frozen=True)
class DetectionSummary:
    run_id: str
    flagged: int
    started: int
    evidence_added: int
    skipped: int
