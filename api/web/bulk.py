"""Several inbox tasks at once: claim them, approve them, or close their win-back as failed.
Each task is still its own request to its case, under the same rules as one by one; what
became of each is shown per task, refusals explained."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api import schemas
from api.deps import BoardDep, CaseServiceDep
from api.errors import DomainError, Forbidden, Invalid
from api.paging import COUNT_AHEAD
from api.refusals import audit_refusal
from api.service import CaseService
from api.task_board import TaskBoard
from api.web.session import CsrfChecked, Staff, principal
from api.web.tasks import PAGE_SIZE, BulkAction, inbox_page
from closeout.cases.inbox import InboxFilter, InboxSort
from closeout.domain import Assignment, TaskDecision, TaskKind
from closeout.users.accounts import User

router = APIRouter(tags=["web"], include_in_schema=False)
# A page of the inbox at most, and a few pages more: each is a request to its case.
MOST = 100
AT_ONCE = 8
# Which tasks each decision fits; a task of another kind is refused before its case is asked.
FITS = {BulkAction.APPROVE: TaskKind.APPROVAL, BulkAction.WIN_BACK_FAILED: TaskKind.WIN_BACK}
DONE = {
    BulkAction.CLAIM: "claimed",
    BulkAction.APPROVE: "approved",
    BulkAction.WIN_BACK_FAILED: "win-back failed",
}


class BulkForm(BaseModel):
    action: BulkAction
    task_id: list[str] = Field(default_factory=list, max_length=MOST)
    view: str = Field(default="mine", pattern="^(mine|queue|all)$")


@dataclass(frozen=True)
class BulkResult:
    task_id: str
    customer_id: str | None
    kind: str | None
    done: str | None  # what was done, or None
    refusal: str | None  # why not


async def _one(
    request: Request, user: User, board: TaskBoard, cases: CaseService, action: BulkAction,
    task_id: str,
) -> BulkResult:  # fmt: skip
    customer_id = kind = None
    try:
        task, case = board.visible_task(user, task_id)
        customer_id, kind = case.customer_id, task.kind
        fits = FITS.get(action)
        if fits is not None and task.kind != fits:
            raise Invalid(f"only {fits} tasks take this decision, not {task.kind}")
        if action is BulkAction.CLAIM:
            await cases.assign(task_id, Assignment.CLAIM, principal(user))
        else:
            decision = TaskDecision(action.value)
            await cases.decide(task_id, schemas.DecisionIn(decision=decision), principal(user))
    except DomainError as exc:
        if isinstance(exc, Forbidden):
            audit_refusal(request, exc)
        return BulkResult(task_id, customer_id, kind, None, exc.message)
    return BulkResult(task_id, customer_id, kind, DONE[action], None)


@router.post("/inbox/bulk", dependencies=[CsrfChecked])
async def bulk(
    request: Request,
    user: Staff,
    board: BoardDep,
    cases: CaseServiceDep,
    form: Annotated[BulkForm, Form()],
) -> Response:
    """Act on the ticked tasks, each on its own; back to the inbox with what became of each."""
    f = InboxFilter(None, sort=InboxSort.DUE, limit=PAGE_SIZE, offset=0, count_up_to=COUNT_AHEAD)
    chosen = list(dict.fromkeys(t for t in form.task_id if t))
    if not chosen:
        error = "tick at least one task"
        return inbox_page(request, user, board, form.view, f, status=422, bulk_error=error)
    gate = asyncio.Semaphore(AT_ONCE)

    async def guarded(task_id: str) -> BulkResult:
        async with gate:
            return await _one(request, user, board, cases, form.action, task_id)

    results = await asyncio.gather(*(guarded(t) for t in chosen))
    names = board.customer_names({r.customer_id for r in results if r.customer_id})
    return inbox_page(request, user, board, form.view, f, bulk_results=results, bulk_names=names)
