"""What a case workflow knows between its steps, and the names of its patches."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from closeout.contracts import (
        BackupResult,
        CancelRequest,
        CaseTerms,
        CloseCustomerInput,
        DecisionRequest,
        HoldView,
        ReactivateRequest,
    )
    from closeout.domain import Outcome, Stage, TaskKind, Trigger
    from workflows.retention import RetentionClocks

# workflow.patched ids: each guards a change to the commands a running case emits.
PATCH_DECIDE_AFTER_RECORDED = "decide-after-task-recorded"
PATCH_CONTACT_REVIEW = "contact-review-on-refused-notice"
PATCH_REMINDER = "reminder-before-effective-date"
PATCH_DATA_EXPORT = "data-export-on-request"
PATCH_TASK_ESCALATION = "task-reminder-and-escalation"
PATCH_DELETION_CONFIRMATION = "deletion-confirmation"
PATCH_RETENTION_BY_CATEGORY = "retention-by-category"
# Archived cases continue as new into RetentionWorkflow instead of waiting out retention here.
PATCH_RETENTION_WORKFLOW = "retention-workflow"
# A customer's own request skips win-back and notice, runs on the law's clock and keeps only
# the categories the law requires.
PATCH_OWN_REQUEST = "own-request-on-the-laws-clock"

# The approval task of a customer's own request, where the policy asks for the check.
IDENTITY_CHECK = (
    "the customer's own request to be deleted: check that it comes from the customer "
    "(identity), then approve; reject if it does not"
)

# A case in retention continues as new at least this often, and whenever its run's history
# has this many events, so no run of a case kept for decades is longer than a year's.
RENEW_EVERY = timedelta(days=365)
MAX_RUN_EVENTS = 400

# Tasks whose due date escalates them; a win-back task's due date ends the window by itself.
ESCALATING_TASKS = frozenset(
    {
        TaskKind.APPROVAL,
        TaskKind.SECOND_APPROVAL,
        TaskKind.OBJECTION_REVIEW,
        TaskKind.CONTACT_REVIEW,
        TaskKind.DATA_REVIEW,
        TaskKind.CUSTOMER_REPLY,
    }
)


class CaseCancelled(Exception):
    """Raised inside the run when an accepted cancel request is noticed."""


@dataclass
class CaseTask:
    """A task of the case as the workflow follows it."""

    task_id: str
    kind: TaskKind
    assignee: str
    created_at: datetime
    due_at: datetime | None
    decision: DecisionRequest | None = None
    closed: bool = False
    # Set once the task's row exists: a decision is written only after it.
    recorded: bool = False

    @property
    def pending(self) -> bool:
        """Still waiting for someone."""
        return not self.closed and self.decision is None


@dataclass(frozen=True)
class RetentionInput:
    """What a case in retention carries from one run to the next: whom it is about, the terms
    it runs under, the category clocks, the holds standing, and what was done before."""

    case: CloseCustomerInput
    terms: CaseTerms
    retention_end: datetime
    clocks: RetentionClocks | None = None
    holds: dict[str, HoldView] = field(default_factory=dict)
    bundle: BackupResult | None = None
    effective_at: datetime | None = None
    evidence_triggers: list[Trigger] = field(default_factory=list)
    used_links: list[str] = field(default_factory=list)
    # The closing stages' tasks, all settled: a late decision on one is refused as before.
    tasks: list[CaseTask] = field(default_factory=list)
    # False for the first run (archived, retention not yet entered); True for every later one.
    entered: bool = False
    # Runs of retention so far, this one included.
    run: int = 1
    # The customer's replies by mail handed to the case: inbound id → its customer_reply task.
    replies: dict[str, str] = field(default_factory=dict)
    # A customer's own request: when its answer is due (first, and now), and whether given.
    request_first_due: datetime | None = None
    request_due: datetime | None = None
    request_answered: bool = False


class CaseState:
    """The case's state. Plain data: the request rules (workflows/case/rules.py) read it
    outside any workflow too."""

    def __init__(self, input: CloseCustomerInput) -> None:
        self.input = input
        self.stage = Stage.OPENED
        self.outcome: Outcome | None = None
        self.terms: CaseTerms | None = None
        self.tasks: dict[str, CaseTask] = {}
        self.watchers: list[asyncio.Task[None]] = []
        self.holds: dict[str, HoldView] = {}
        self.approvers: list[str] = []
        self.effective_at: datetime | None = None
        self.retention_end: datetime | None = None
        # Retention by data category (policies that name categories); None: one period.
        self.clocks: RetentionClocks | None = None
        self.next_timer: datetime | None = None
        self.bundle: BackupResult | None = None
        self.cancel_request: CancelRequest | None = None
        self.reactivate_request: ReactivateRequest | None = None
        self.customer_stays = False
        self.used_links: set[str] = set()
        # Replies by mail handed to the case: inbound id → its customer_reply task ("" while
        # the task is being opened).
        self.replies: dict[str, str] = {}
        # customer_reply tasks decided whose answer is still being done: they hold the closure
        # as an open task does, so it cannot slip through before an objection is opened.
        self.reading: set[str] = set()
        # A customer's own request on the law's clock (None: not one, or opened before).
        self.request_first_due: datetime | None = None
        self.request_due: datetime | None = None
        self.request_answered = False
        # While a customer may still withdraw their own request ("keep my account").
        self.cooling_off = False
        self.request_extensions = 0
        self.request_withdrawn = False
        # The read model has the case (its first step done).
        self.case_recorded = False
        self.evidence_triggers: set[Trigger] = {input.trigger}
        # A review kept the customer (an objection or contact review was rejected): the
        # closure is off and the customer stays.
        self.review_kept_customer = False
        self._retention_changed = False
        # When a run in retention continues as new (None: it never does, as on the old path).
        self.renew_at: datetime | None = None
        self.retention_run = 1

    def retention_input(self) -> RetentionInput:
        """The case as the next run of retention takes it over."""
        assert self.terms is not None and self.retention_end is not None
        return RetentionInput(
            case=self.input,
            terms=self.terms,
            retention_end=self.retention_end,
            clocks=self.clocks,
            holds=dict(self.holds),
            bundle=self.bundle,
            effective_at=self.effective_at,
            evidence_triggers=sorted(self.evidence_triggers),
            used_links=sorted(self.used_links),
            tasks=list(self.tasks.values()),
            entered=self.stage is Stage.RETENTION,
            run=self.retention_run + 1 if self.stage is Stage.RETENTION else 1,
            replies=dict(self.replies),
            request_first_due=self.request_first_due,
            request_due=self.request_due,
            request_answered=self.request_answered,
        )

    def take_over(self, carried: RetentionInput) -> None:
        """Start from what the previous run carried."""
        self.terms = carried.terms
        self.retention_end = carried.retention_end
        self.clocks = carried.clocks
        self.holds = dict(carried.holds)
        self.bundle = carried.bundle
        self.effective_at = carried.effective_at
        self.evidence_triggers = {self.input.trigger, *carried.evidence_triggers}
        self.used_links = set(carried.used_links)
        self.tasks = {t.task_id: t for t in carried.tasks}
        self.stage = Stage.RETENTION if carried.entered else Stage.ARCHIVE
        self.retention_run = carried.run
        self.replies = dict(carried.replies)
        self.request_first_due = carried.request_first_due
        self.request_due = carried.request_due
        self.request_answered = carried.request_answered
        self.case_recorded = True
