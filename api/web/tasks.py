"""The inbox and the task page: claim, hand back, delegate, decide."""

from __future__ import annotations

from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from api import schemas
from api.calendar_bounds import Day
from api.deps import BoardDep, CaseServiceDep
from api.errors import DomainError, Forbidden, validated
from api.paging import COUNT_AHEAD, PageNumber, pager
from api.refusals import audit_refusal
from api.task_board import TaskBoard, due_mark
from api.web.render import choice, render
from api.web.session import CsrfChecked, Staff, principal
from closeout.cases.inbox import DueFilter, InboxFilter, InboxSort
from closeout.domain import Assignment, TaskDecision, TaskKind, Trigger
from closeout.users.accounts import User

router = APIRouter(tags=["web"], include_in_schema=False)
PAGE_SIZE = 20


@router.get("/inbox")
def inbox(
    request: Request,
    user: Staff,
    board: BoardDep,
    view: Annotated[str, Query(pattern="^(mine|queue|all)$")] = "mine",
    kind: str | None = None,
    trigger: str | None = None,
    due: str | None = None,
    sort: str | None = None,
    page: PageNumber = 1,
) -> Response:
    """My open tasks, my group's unclaimed ones, or (managers) everyone's."""
    f = InboxFilter(
        None,
        kind=choice(TaskKind, kind, "task kind"),
        trigger=choice(Trigger, trigger, "trigger"),
        due=choice(DueFilter, due, "due filter"),
        sort=choice(InboxSort, sort, "sort") or InboxSort.DUE,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        count_up_to=(page - 1) * PAGE_SIZE + COUNT_AHEAD,
    )
    return inbox_page(request, user, board, view, f, page)


def inbox_page(
    request: Request,
    user: User,
    board: TaskBoard,
    view: str,
    f: InboxFilter,
    page: int = 1,
    status: int = 200,
    **extra: Any,
) -> Response:
    """The inbox as filtered; `extra` for what a bulk action came back with."""
    rows = board.inbox(user, view, f)
    now = datetime.now(UTC)
    return render(
        request,
        user,
        "inbox",
        status,
        rows=[(r, due_mark(r.task, now)) for r in rows.items],
        names=board.customer_names({r.case.customer_id for r in rows.items}),
        page=page,
        pager=pager(page, PAGE_SIZE, rows.total, rows.capped),
        counts=board.inbox_counts(user),
        view=view,
        filters={"kind": f.kind, "trigger": f.trigger, "due": f.due, "sort": f.sort},
        kinds=list(TaskKind),
        triggers=list(Trigger),
        sorts=list(InboxSort),
        dues=list(DueFilter),
        bulk_actions=list(BulkAction),
        **extra,
    )


class BulkAction(StrEnum):
    """What the inbox does to several tasks at once, each task its own request."""

    CLAIM = "claim"
    APPROVE = "approve"  # approval tasks
    WIN_BACK_FAILED = "failed"  # win-back tasks


def _task_page(
    request: Request,
    user: Staff,
    board: TaskBoard,
    task_id: str,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    page = board.task_page(user, task_id)
    return render(
        request,
        user,
        "task",
        status,
        p=page,
        customer_name=page.customer.name if page.customer else page.case.customer_id,
        mark=due_mark(page.task, datetime.now(UTC)),
        error=error,
        form=form or {},
    )


@router.get("/tasks/{task_id}")
def task_page(task_id: str, request: Request, user: Staff, board: BoardDep) -> Response:
    """Everything needed to decide, and the decision form."""
    return _task_page(request, user, board, task_id)


class DecisionForm(BaseModel):
    decision: TaskDecision
    comment: str = Field(default="", max_length=4000)
    defer_until: Day | None = None
    merge_into: str = Field(default="", max_length=64)


@router.post("/tasks/{task_id}/decision", dependencies=[CsrfChecked])
async def decide(
    task_id: str,
    request: Request,
    user: Staff,
    board: BoardDep,
    cases: CaseServiceDep,
    form: Annotated[DecisionForm, Form()],
) -> Response:
    _task, case = board.visible_task(user, task_id)
    try:
        body = validated(
            schemas.DecisionIn,
            decision=form.decision,
            comment=form.comment.strip() or None,
            defer_until=(
                datetime.combine(form.defer_until, time(9), UTC) if form.defer_until else None
            ),
            merge_into=form.merge_into or None,
        )
        result = await cases.decide(task_id, body, principal(user))
    except DomainError as exc:
        # Stale or refused: explain on the same page; nothing changed.
        if isinstance(exc, Forbidden):
            audit_refusal(request, exc)
        shown = {"decision": form.decision, "comment": form.comment, "merge_into": form.merge_into}
        return _task_page(request, user, board, task_id, exc.status_code, exc.message, shown)
    return RedirectResponse(f"/cases/{case.id}?decided={result.decision}", status_code=303)


class AssignForm(BaseModel):
    to: str | None = Field(default=None, max_length=320)
    note: str | None = Field(default=None, max_length=2000)


@router.post("/tasks/{task_id}/{action}", dependencies=[CsrfChecked])
async def assign(
    task_id: str,
    action: Assignment,
    request: Request,
    user: Staff,
    board: BoardDep,
    cases: CaseServiceDep,
    form: Annotated[AssignForm, Form()],
) -> Response:
    """Claim from the group queue, hand back to it, or delegate with a note."""
    board.visible_task(user, task_id)
    try:
        await cases.assign(task_id, action, principal(user), to=form.to, note=form.note)
    except DomainError as exc:
        if isinstance(exc, Forbidden):
            audit_refusal(request, exc)
        shown = {"to": form.to or "", "note": form.note or ""}
        return _task_page(request, user, board, task_id, exc.status_code, exc.message, shown)
    target = f"/tasks/{task_id}" if action is Assignment.CLAIM else "/inbox"
    return RedirectResponse(target, status_code=303)
