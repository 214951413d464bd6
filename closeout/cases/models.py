"""Read-model tables, written only by activities (and the token CLI)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

INSIGHTS_COLUMNS = (
    "opened_month", "trigger", "churn_class", "opened_at", "outcome", "stage", "owner",
    "value_tier", "country", "closed_at",
)  # fmt: skip


def opened_month_of(at: datetime) -> str:
    """The month a case opened at `at` falls in, in UTC: "2026-11"."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m")


class CaseRecord(SQLModel, table=True):
    """One close-customer case: the read-model mirror of one workflow run."""

    __tablename__ = "closure_case"
    # The lists' orders, so a page reads its rows from an index instead of sorting them all:
    # newest first (everyone's, or one account manager's), and the retention clocks.
    __table_args__ = (
        Index("ix_closure_case_opened", "opened_at", "id"),
        Index("ix_closure_case_owner_opened", "owner", "opened_at", "id"),
        Index("ix_closure_case_stage_next_deletion", "stage", "next_deletion_at", "id"),
        # Detection's cool-down: the cases ended lately, by outcome.
        Index("ix_closure_case_outcome_closed", "outcome", "closed_at"),
        # The insights: every column their case views group or filter by, in one index read
        # in month order (closeout/insights.py), so a view never touches the wide rows.
        Index("ix_closure_case_insights", *INSIGHTS_COLUMNS),
    )

    id: str = Field(primary_key=True, max_length=36)
    workflow_id: str = Field(max_length=200, index=True)
    run_id: str = Field(max_length=64)
    customer_id: str = Field(max_length=64, index=True)
    trigger: str = Field(max_length=40, index=True)
    churn_class: str = Field(max_length=40)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    policy: str = Field(max_length=64)
    stage: str = Field(max_length=40, index=True)
    outcome: str | None = Field(default=None, max_length=40, index=True)
    opened_by: str = Field(max_length=200)
    # The customer's account manager and value tier when the case opened (for inbox and lists).
    owner: str | None = Field(default=None, max_length=200, index=True)
    value_tier: str | None = Field(default=None, max_length=20)
    # The customer's country when the case opened (ISO 3166 alpha-2), for the insights.
    country: str | None = Field(default=None, max_length=2)
    opened_at: datetime
    # The month the case opened in, UTC ("2026-11", `opened_month_of`): the insights' order.
    opened_month: str = Field(max_length=7)
    updated_at: datetime
    closed_at: datetime | None = None
    effective_at: datetime | None = None
    retention_end: datetime | None = None
    # Retention by category: [{category, ends_at, deleted_at}] as the workflow last said.
    category_clocks: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )
    # When the next deletion falls due: the soonest category still kept, or the retention end.
    next_deletion_at: datetime | None = Field(default=None, index=True)
    # When the case entered its current stage (None before its first and once closed): the
    # start of the span the insights count when it leaves it.
    stage_since: datetime | None = None
    # A customer's own request (trigger customer_request): when the answer is due by law (an
    # extension moves it) and when it was given; None for other cases.
    request_due_at: datetime | None = Field(default=None, index=True)
    request_answered_at: datetime | None = None


class TaskRecord(SQLModel, table=True):
    """A human task: win-back, approval, second approval or objection review."""

    __tablename__ = "case_task"
    # Inboxes, soonest due first: one assignee's tasks of one status, or everyone's.
    __table_args__ = (
        Index("ix_case_task_inbox", "assignee", "status", "due_at", "id"),
        Index("ix_case_task_status_due", "status", "due_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="closure_case.id", index=True, max_length=36)
    customer_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=40)
    status: str = Field(max_length=20, index=True)
    assignee: str = Field(max_length=200, index=True)
    created_at: datetime
    due_at: datetime | None = None
    # The customer's words: sealed (closeout/cases/sealing.py), so of no fixed length.
    note: str | None = Field(default=None, sa_column=Column(Text))
    decision: str | None = Field(default=None, max_length=40)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = None
    defer_until: datetime | None = None
    # Set when the task went past its due date and moved to the managers' group.
    escalated_at: datetime | None = None


class DeletionForecast(SQLModel, table=True):
    """How many deletions fall due on a day, held or not: the retention page's chart."""

    __tablename__ = "deletion_forecast"

    day: date = Field(primary_key=True)
    held: bool = Field(primary_key=True)
    deletions: int


# What every insights fact carries of its case, to be filtered without reading the cases.
FACT_DIMENSIONS = (
    "opened_month", "opened_at", "trigger", "churn_class", "value_tier", "country", "owner",
)  # fmt: skip
_BESIDE_OWNER = tuple(d for d in FACT_DIMENSIONS if d != "owner")


class InsightFact(SQLModel, table=True):
    """What the insights count beside the cases, written as it happens (closeout/cases/facts.py):
    the time a case spent in a stage it left, an answer its customer gave (and how long after
    the case opened), a task and how it went. Each carries its case's filter columns, so a view
    reads one index, in the order it groups by, without sorting or joining a million cases."""

    __tablename__ = "insight_fact"
    __table_args__ = (
        UniqueConstraint("kind", "ref"),
        # Read when a report is narrowed (whole days of every case are read from `InsightDay`):
        # an account manager's own customers in one range, led by the owner.
        Index("ix_insight_fact_spans", "kind", "owner", "name", "band", "seconds", *_BESIDE_OWNER),
        Index(
            "ix_insight_fact_tasks",
            "kind",
            "owner",
            "who",
            "name",
            "decided",
            "escalated",
            "late",
            *_BESIDE_OWNER,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="closure_case.id", index=True, max_length=36)
    kind: str = Field(max_length=10)  # stage, answer, task
    name: str = Field(max_length=40)  # the stage left, the answer, the task's kind
    ref: str | None = Field(default=None, max_length=36)  # the task's id
    # A span: its length, and its band (closeout/cases/facts.py) for the percentiles.
    seconds: float | None = None
    band: int | None = None
    # A task: who has it (or decided it), decided, escalated, decided after its due date.
    who: str | None = Field(default=None, max_length=200)
    decided: bool = False
    escalated: bool = False
    late: bool = False
    opened_month: str = Field(max_length=7)
    opened_at: datetime
    trigger: str = Field(max_length=40)
    churn_class: str = Field(max_length=40)
    value_tier: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=2)
    owner: str | None = Field(default=None, max_length=200)


class InsightDay(SQLModel, table=True):
    """The facts of the cases opened on one day (UTC) counted together: all of them
    (`dimension` ""), and those of each trigger, churn class, value tier, country and owner
    (`dimension` the column, `value` its value). What a report over whole days, narrowed by
    at most one of those, reads (a span kind per name and band with its shortest and longest;
    a task per kind, with whom, and how it went), instead of every fact."""

    __tablename__ = "insight_day"

    dimension: str = Field(primary_key=True, max_length=20)
    value: str = Field(primary_key=True, max_length=200)
    kind: str = Field(primary_key=True, max_length=10)
    day: date = Field(primary_key=True)
    name: str = Field(primary_key=True, max_length=40)
    band: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # -1: a task
    who: str = Field(primary_key=True, max_length=200)  # "": a span
    decided: bool = Field(primary_key=True)
    escalated: bool = Field(primary_key=True)
    late: bool = Field(primary_key=True)
    facts: int
    low: float | None = None
    high: float | None = None


class RetentionLoad(SQLModel, table=True):
    """How many customers archived now keep a data category until a year, per account manager
    ("" for none): the insights' retention load, moved with each case change as the deletion
    forecast is."""

    __tablename__ = "retention_load"

    owner: str = Field(primary_key=True, max_length=200)
    category: str = Field(primary_key=True, max_length=40)
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    customers: int


class LegalHoldRecord(SQLModel, table=True):
    __tablename__ = "legal_hold"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="closure_case.id", index=True, max_length=36)
    # Sealed words (closeout/cases/sealing.py), of no fixed length.
    reason: str = Field(sa_column=Column(Text, nullable=False))
    reference: str | None = Field(default=None, sa_column=Column(Text))
    placed_by: str = Field(max_length=200)
    placed_at: datetime
    released_by: str | None = Field(default=None, max_length=200)
    released_at: datetime | None = None
    release_reason: str | None = Field(default=None, sa_column=Column(Text))
    review_at: datetime | None = Field(default=None, index=True)
    review_reminded_at: datetime | None = None


class NoticeRecord(SQLModel, table=True):
    """The outbox: one row per message, so a retried send never mails twice."""

    __tablename__ = "notice"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="closure_case.id", index=True, max_length=36)
    kind: str = Field(max_length=40)
    message_id: str = Field(max_length=200, unique=True)
    # Sealed under the customer's outbox key (closeout/cases/outbox.py).
    recipient: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(max_length=20)
    created_at: datetime
    sent_at: datetime | None = None
    # A message rendered ahead of the deletion of the data it needs (the deletion
    # confirmation): kept only until it is sent, then erased with the recipient.
    sealed: dict[str, str] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )


class ArchiveBundleRecord(SQLModel, table=True):
    __tablename__ = "archive_bundle"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="closure_case.id", index=True, max_length=36)
    customer_id: str = Field(max_length=64, index=True)
    location: str = Field(max_length=500)
    manifest_sha256: str = Field(max_length=64)
    size_bytes: int
    record_counts: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    # The data category a split bundle holds; None for the whole-customer backup.
    category: str | None = Field(default=None, max_length=40)
    created_at: datetime
    verified_at: datetime | None = None
    deleted_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API; only its SHA-256 is stored.

    A person's token belongs to their user (and carries their role); an `integration`
    token may name a system instead (`user_id` empty).
    """

    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("token_sha256"),)

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    role: str = Field(max_length=40)
    token_sha256: str = Field(max_length=64)
    created_at: datetime
    revoked_at: datetime | None = None
    user_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)
    expires_at: datetime | None = None
