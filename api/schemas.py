"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.evidence import described_by_trigger
from closeout.domain import (
    ChurnClass,
    CustomerResponse,
    DataCategory,
    Outcome,
    Stage,
    TaskDecision,
    Trigger,
    mailable,
)


class CaseIn(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64)
    trigger: Trigger
    evidence: dict[str, Any] = Field(default_factory=dict)
    churn_class: ChurnClass | None = None
    policy: str | None = None


# The body of POST /api/cases as published: the evidence each trigger needs, spelled out.
CaseBody = Annotated[CaseIn, described_by_trigger(CaseIn, Trigger)]


class CaseCreated(BaseModel):
    case_id: str
    workflow_id: str
    stage: Stage


class AuditEventOut(BaseModel):
    id: str
    at: datetime
    actor: str
    action: str
    reason: str | None
    details: dict[str, Any]


class TaskOut(BaseModel):
    id: str
    case_id: str
    customer_id: str
    kind: str
    status: str
    assignee: str
    created_at: datetime
    due_at: datetime | None
    note: str | None
    decision: str | None
    comment: str | None
    decided_by: str | None
    decided_at: datetime | None
    defer_until: datetime | None


class LegalHoldOut(BaseModel):
    id: str
    reason: str
    reference: str | None
    placed_by: str
    placed_at: datetime
    released_by: str | None
    released_at: datetime | None
    release_reason: str | None
    active: bool


class CaseSummary(BaseModel):
    id: str
    workflow_id: str
    customer_id: str
    trigger: Trigger
    churn_class: ChurnClass
    policy: str
    stage: Stage
    outcome: Outcome | None
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    effective_at: datetime | None
    retention_end: datetime | None


class CategoryClockOut(BaseModel):
    """One data category's retention clock: when it falls due, and when it was deleted."""

    category: DataCategory
    ends_at: datetime
    deleted_at: datetime | None


class AttachmentOut(BaseModel):
    filename: str | None
    content_type: str
    size_bytes: int


class ReplyOut(BaseModel):
    """Mail that came back on a case: its words as text, its attachments listed only."""

    id: str
    case_id: str
    kind: str
    received_at: datetime
    sender: str | None
    subject: str | None
    text: str | None
    status: str | None
    # pending, task, case_closed, not_needed (how it reached the case).
    handoff: str
    task_id: str | None
    attachments: list[AttachmentOut]


class CaseDetail(CaseSummary):
    evidence: dict[str, Any]
    # During retention by category: each category's clock (None: one period for all).
    category_clocks: list[CategoryClockOut] | None
    pending_tasks: list[TaskOut]
    tasks: list[TaskOut]
    legal_holds: list[LegalHoldOut]
    timeline: list[AuditEventOut]


T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class DecisionIn(BaseModel):
    decision: TaskDecision
    comment: str | None = Field(default=None, max_length=4000)
    defer_until: datetime | None = None
    merge_into: str | None = Field(
        default=None,
        max_length=64,
        description="a data review's merge: the customer the record duplicates "
        "(one of its evidence's duplicate_of)",
    )


class DecisionOut(BaseModel):
    task_id: str
    decision: TaskDecision
    stage: Stage


class DelegationIn(BaseModel):
    to: str = Field(
        min_length=3,
        max_length=320,
        description="the e-mail of the account manager who takes the task over",
    )
    note: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class AssignmentOut(BaseModel):
    task_id: str
    assignee: str


class CustomerResponseIn(BaseModel):
    response: CustomerResponse
    comment: str | None = Field(default=None, max_length=4000)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class LegalHoldIn(ReasonIn):
    reference: str | None = Field(default=None, max_length=200)
    # When to look at the hold again: compliance officers are reminded then.
    review_at: datetime | None = None


class RetentionIn(ReasonIn):
    retention_end: datetime
    category: DataCategory | None = Field(
        default=None,
        description="During retention by category: the one category whose end moves "
        "(every category still kept when left out)",
    )


class RequestExtensionIn(ReasonIn):
    """More time to answer a customer's own request; the reason is mailed to the customer."""

    until: datetime = Field(description="the new due date, with a time zone")

    @field_validator("reason")
    @classmethod
    def _mailable(cls, reason: str) -> str:
        if not mailable(reason):
            raise ValueError("the reason holds characters a mail cannot carry")
        return reason


class OpenRequestOut(BaseModel):
    """A customer's own request not yet answered."""

    case_id: str
    customer_id: str
    stage: Stage
    opened_at: datetime
    due_at: datetime
    days_left: int
    overdue: bool


class ChurnClassIn(ReasonIn):
    """Why the customer really left, corrected with a reason."""

    churn_class: ChurnClass


class CaseStateOut(BaseModel):
    case_id: str
    stage: Stage
    outcome: Outcome | None
    hold_id: str | None = None
    retention_end: datetime | None = None


class CustomerOut(BaseModel):
    id: str
    name: str
    email: str
    status: str
    owner: str
    value_tier: str
    locale: str
    open_case: bool
    open_case_id: str | None = None


class CustomerDetail(CustomerOut):
    phone: str | None
    created_at: datetime
    closed_at: datetime | None
    record_counts: dict[str, int]
    cases: list[CaseSummary]


class WebhookTrigger(StrEnum):
    """What a CRM reports by webhook; the other triggers come from the daily scan."""

    CUSTOMER_REQUEST = "customer_request"
    FRAUD = "fraud"
    PAYMENT_ARREARS = "payment_arrears"


class TriggerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=64)
    trigger: WebhookTrigger
    evidence: dict[str, Any]
    churn_class: ChurnClass | None = None
    policy: str | None = Field(default=None, max_length=64)


TriggerBody = Annotated[
    TriggerIn, described_by_trigger(TriggerIn, (Trigger(t.value) for t in WebhookTrigger))
]


class TriggerOut(BaseModel):
    action: str = Field(description="case_opened, evidence_added or evidence_known")
    case_id: str


class ExclusionIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")
    until: datetime = Field(
        description="when the scan may flag the customer again: with a time zone, in the "
        "future and at most a year away"
    )


class ExclusionOut(BaseModel):
    id: str
    customer_id: str
    reason: str
    created_by: str
    expires_at: datetime


class CertificateOut(BaseModel):
    """A deletion certificate: its signed body, the body's digest, and whether it is genuine."""

    certificate_id: str
    case_id: str
    issued_at: datetime
    body_sha256: str
    signature: str
    authentic: bool
    certificate: dict[str, Any]
