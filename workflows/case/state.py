"""What a case workflow knows between its steps, and the names of its patches."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

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

# Tasks whose due date escalates them; a win-back task's due date ends the window by itself.
ESCALATING_TASKS = frozenset(
    {
        TaskKind.APPROVAL,
        TaskKind.SECOND_APPROVAL,
        TaskKind.OBJECTION_REVIEW,
        TaskKind.CONTACT_REVIEW,
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
        # The read model has the case (its first step done).
        self.case_recorded = False
        self.evidence_triggers: set[Trigger] = {input.trigger}
        # A review kept the customer (an objection or contact review was rejected): the
        # closure is off and the customer stays.
        self.review_kept_customer = False
        self._retention_changed = False
