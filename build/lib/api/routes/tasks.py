"""Human tasks: the inbox, taking tasks, and decisions on them."""

from __future__ import annotations

from fastapi import APIRouter

from api import schemas
from api.deps import AccountManager, CaseServiceDep
from api.openapi_links import TASK_FROM_ANSWER, TASK_FROM_LIST, links
from api.paging import Limit, Offset
from closeout.domain import Assignment, TaskStatus

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.get("", responses=links(200, TASK_FROM_LIST))
def list_tasks(
    user: AccountManager,
    cases: CaseServiceDep,
    status: TaskStatus | None = None,
    assignee: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> schemas.PageOut[schemas.TaskOut]:
    """Tasks, soonest due first; an account manager sees their own and their group's."""
    return cases.list_tasks(status, assignee, limit, offset, user)


@router.post("/{task_id}/decision", status_code=202, responses=links(202, TASK_FROM_ANSWER))
async def decide(
    task_id: str, body: schemas.DecisionIn, user: AccountManager, cases: CaseServiceDep
) -> schemas.DecisionOut:
    """Record an account manager's decision on a task."""
    return await cases.decide(task_id, body, user)


@router.post("/{task_id}/claim", responses=links(200, TASK_FROM_ANSWER))
async def claim(task_id: str, user: AccountManager, cases: CaseServiceDep) -> schemas.AssignmentOut:
    """Take a task from the group queue."""
    return await cases.assign(task_id, Assignment.CLAIM, user)


@router.post("/{task_id}/unclaim", responses=links(200, TASK_FROM_ANSWER))
async def unclaim(
    task_id: str, user: AccountManager, cases: CaseServiceDep
) -> schemas.AssignmentOut:
    """Give a claimed task back to its group's queue."""
    return await cases.assign(task_id, Assignment.UNCLAIM, user)


@router.post("/{task_id}/delegate", responses=links(200, TASK_FROM_ANSWER))
async def delegate(
    task_id: str, body: schemas.DelegationIn, user: AccountManager, cases: CaseServiceDep
) -> schemas.AssignmentOut:
    """Hand a task to another account manager, with a note for them."""
    return await cases.assign(task_id, Assignment.DELEGATE, user, to=body.to, note=body.note)
