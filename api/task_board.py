"""What staff pages show: inboxes, a task with everything needed to decide, a case's progress.

Reads the read model and the CRM; who may see what is decided here, once, for every page.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from api.adapters import ApiAdapters
from api.errors import Forbidden, NotFound
from api.paging import COUNT_AHEAD
from api.temporal_gateway import TemporalGateway
from closeout.access import (
    DELEGATE_ROLES,
    SUPERVISORS,
    may_see_case,
    may_see_task,
    sees_every_customer,
)
from closeout.audit.models import AuditEvent
from closeout.cases.inbox import DUE_SOON, InboxFilter, InboxRow, TaskQueries
from closeout.cases.models import CaseRecord, TaskRecord
from closeout.cases.repository import Page
from closeout.contracts import CaseStatus
from closeout.crm.port import AccountHistory
from closeout.domain import (
    ACCOUNT_MANAGER_GROUP,
    ALLOWED_DECISIONS,
    MANAGER_GROUP,
    STAGE_ORDER,
    Role,
    Stage,
    TaskDecision,
    TaskKind,
    TaskStatus,
)
from closeout.inbound.replies import Replies, ReplyView
from closeout.settings import Settings
from closeout.users.accounts import Accounts, User
from workflows.case_handles import case_status

# The stages drawn on a case's timeline (closed is the end, drawn by its outcome).
TIMELINE_STAGES = [s for s in STAGE_ORDER if s not in (Stage.OPENED, Stage.CLOSED)]


def queues_of(user: User) -> list[str]:
    """The group queues a user takes tasks from."""
    if user.role is Role.ACCOUNT_MANAGER:
        return [ACCOUNT_MANAGER_GROUP]
    if user.role in SUPERVISORS:
        return [MANAGER_GROUP, ACCOUNT_MANAGER_GROUP]
    return []


def due_mark(task: TaskRecord, now: datetime) -> str | None:
    if task.due_at is None or task.status != TaskStatus.OPEN:
        return None
    if task.due_at < now:
        return "overdue"
    return "soon" if task.due_at < now + DUE_SOON else None


@dataclass(frozen=True)
class StageStep:
    stage: Stage
    state: str  # done, current, upcoming, skipped


@dataclass
class TaskPage:
    task: TaskRecord
    case: CaseRecord
    customer: AccountHistory | None
    decisions: list[TaskDecision]
    case_tasks: list[TaskRecord]
    notices: list[Any]
    answers: list[AuditEvent]
    timeline: list[AuditEvent]
    delegates: list[User]
    may_decide: bool
    may_claim: bool
    may_release: bool
    # A customer_reply task: the reply to read.
    reply: ReplyView | None = None


@dataclass
class CasePage:
    case: CaseRecord
    customer: AccountHistory | None
    steps: list[StageStep]
    tasks: list[TaskRecord]
    holds: list[Any]
    timeline: list[AuditEvent]
    timers: dict[str, datetime | None] = field(default_factory=dict)
    live: bool = False
    temporal_url: str = ""
    # Mail that came back on the case: replies, automatic replies, delivery reports.
    replies: list[ReplyView] = field(default_factory=list)


class TaskBoard:
    def __init__(
        self,
        settings: Settings,
        adapters: ApiAdapters,
        accounts: Accounts,
        temporal: TemporalGateway,
    ) -> None:
        self.settings = settings
        self.repo = adapters.cases
        self.tasks = TaskQueries(adapters.db, self.repo.sealed)
        self.replies = Replies(adapters.db, self.repo.sealed)
        self.source = adapters.source
        self.accounts = accounts
        self.temporal = temporal

    # ---------------------------------------------------------------- who sees what

    def may_see_task(self, user: User, task: TaskRecord, case: CaseRecord) -> bool:
        return may_see_task(user.role, user.email, task.assignee, case.owner)

    def may_see_case(self, user: User, case: CaseRecord) -> bool:
        if sees_every_customer(user.role):
            return True
        assignees = (t.assignee for t in self.repo.case_tasks(case.id))
        return may_see_case(user.role, user.email, case.owner, assignees)

    def visible_task(self, user: User, task_id: str) -> tuple[TaskRecord, CaseRecord]:
        found = self.repo.task_with_case(task_id)
        if found is None:
            raise NotFound(f"unknown task {task_id!r}")
        task, case = found
        if not self.may_see_task(user, task, case):
            raise Forbidden(f"task {task_id} belongs to {task.assignee}, not to you")
        return task, case

    def visible_case(self, user: User, case_id: str) -> CaseRecord:
        case = self.repo.get_case(case_id)
        if case is None:
            raise NotFound(f"unknown case {case_id!r}")
        if not self.may_see_case(user, case):
            raise Forbidden(f"case {case_id} is not one of your customers'")
        return case

    # ---------------------------------------------------------------- inbox

    def inbox(self, user: User, view: str, f: InboxFilter) -> Page[InboxRow]:
        if view == "queue":
            assignees: list[str] | None = queues_of(user)
        elif view == "all" and user.role in SUPERVISORS:
            assignees = None
        else:
            assignees = [user.email]
        return self.tasks.inbox(
            replace(f, assignees=assignees),
            datetime.now(UTC),
        )

    def inbox_counts(self, user: User) -> dict[str, str]:
        """The tabs' counts, "200+" past COUNT_AHEAD (counting further costs every look)."""
        counts = self.tasks.counts([user.email, *queues_of(user)], up_to=COUNT_AHEAD)

        def shown(n: int) -> str:
            return f"{COUNT_AHEAD}+" if n > COUNT_AHEAD else str(n)

        return {
            "mine": shown(counts.get(user.email, 0)),
            "queue": shown(sum(counts.get(q, 0) for q in queues_of(user))),
        }

    def cases(
        self,
        user: User,
        *,
        stage: str | None,
        outcome: str | None,
        trigger: str | None,
        owner: str | None,
        limit: int,
        offset: int,
        count_up_to: int | None = None,
    ) -> Page[CaseRecord]:
        """Cases, newest first; an account manager sees their own customers' only."""
        if user.role is Role.ACCOUNT_MANAGER:
            owner = user.email
        return self.repo.list_cases(
            stage=stage,
            outcome=outcome,
            open_only=None,
            trigger=trigger,
            owner=owner,
            limit=limit,
            offset=offset,
            count_up_to=count_up_to,
        )

    def customer_names(self, customer_ids: set[str]) -> dict[str, str]:
        found = self.source.names(customer_ids)
        return {customer_id: found.get(customer_id, customer_id) for customer_id in customer_ids}

    # ---------------------------------------------------------------- task page

    def task_page(self, user: User, task_id: str) -> TaskPage:
        task, case = self.visible_task(user, task_id)
        file = self.repo.case_file(case.id, notices=True)
        audit = list(file.timeline)
        is_open = task.status == TaskStatus.OPEN
        supervisor = user.role in SUPERVISORS
        mine = task.assignee == user.email
        return TaskPage(
            task=task,
            case=case,
            customer=self.source.account_history(case.customer_id),
            decisions=sorted(ALLOWED_DECISIONS[TaskKind(task.kind)]),
            case_tasks=list(file.tasks),
            notices=list(file.notices),
            answers=[e for e in audit if e.action.startswith("customer_")],
            timeline=audit,
            delegates=[
                u for u in self.accounts.with_roles(*DELEGATE_ROLES) if u.email != task.assignee
            ],
            may_decide=is_open and (mine or supervisor),
            may_claim=is_open and task.assignee in queues_of(user),
            may_release=is_open and (mine or (supervisor and "@" in task.assignee)),
            reply=self.replies.of_task(task.id) if task.kind == TaskKind.CUSTOMER_REPLY else None,
        )

    # ---------------------------------------------------------------- case page

    async def case_page(self, user: User, case_id: str) -> CasePage:
        case = self.visible_case(user, case_id)
        file = self.repo.case_file(case.id, holds=True)
        audit = list(file.timeline)
        page = CasePage(
            case=case,
            customer=self.source.account_history(case.customer_id),
            steps=self._steps(case, audit),
            tasks=list(file.tasks),
            holds=list(file.holds),
            timeline=audit,
            replies=self.replies.of_case(case.id),
            temporal_url=(
                f"{self.settings.temporal_ui_url}/namespaces/"
                f"{quote(self.settings.temporal_namespace)}/workflows/"
                f"{quote(case.workflow_id)}/{quote(case.run_id)}/history"
            ),
        )
        status = await self._live_status(case) if case.outcome is None else None
        page.live = status is not None
        page.timers = {
            "next_timer": status.next_timer if status else None,
            "effective_at": status.effective_at if status else case.effective_at,
            "retention_end": status.retention_end if status else case.retention_end,
        }
        return page

    def _steps(self, case: CaseRecord, audit: list[AuditEvent]) -> list[StageStep]:
        entered = {e.details.get("stage") for e in audit if e.action == "stage_entered"}
        current = Stage(case.stage)
        steps: list[StageStep] = []
        for stage in TIMELINE_STAGES:
            if stage is current and case.outcome is None:
                state = "current"
            elif stage in entered:
                state = "done"
            elif current is Stage.CLOSED or STAGE_ORDER.index(stage) < STAGE_ORDER.index(current):
                state = "skipped"
            else:
                state = "upcoming"
            steps.append(StageStep(stage, state))
        return steps

    async def _live_status(self, case: CaseRecord) -> CaseStatus | None:
        """The process's own view (timers included); None when Temporal cannot say."""
        try:
            client = await self.temporal.client()
            return await case_status(
                client, case.workflow_id, case.id, rpc_timeout=timedelta(seconds=3)
            )
        except Exception:
            return None
