"""Human tasks: the inbox, taking tasks, and decisions on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import schemas
from api.deps import AccountManager, CaseServiceDep
from closeout.domain import Assignment, TaskStatus

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.get("")
def list_tasks(
    user: AccountManager,
    cases: CaseServiceDep,
    status: TaskStatus | None = None,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> schemas.PageOut[schemas.TaskOut]:
    """Tasks, soonest due first; an account manager sees their own and their group's."""
    return cases.list_tasks(status, assignee, limit, offset, user)


@router.post("/{task_id}/decision", status_code=202)
async def decide(
    task_id: str, body: schemas.DecisionIn, user: AccountManager, cases: CaseServiceDep
) -> schemas.DecisionOut:
    """Record an account manager's decision on a task."""
    return await cases.decide(task_id, body, user)


@router.post("/{task_id}/claim")
async def claim(task_id: str, user: AccountManager, cases: CaseServiceDep) -> schemas.AssignmentOut:
    """Take a task from the group queue."""
    return await cases.assign(task_id, Assignment.CLAIM, user)


@router.post("/{task_id}/unclaim")
async def unclaim(
    task_id: str, user: AccountManager, cases: CaseServiceDep
) -> schemas.AssignmentOut:
    """Give a claimed task back to its group's queue."""
    return await cases.assign(task_id, Assignment.UNCLAIM, user)


@router.post("/{task_id}/delegate")
async def delegate(
    task_id: str, body: schemas.DelegationIn, user: AccountManager, cases: CaseServiceDep
) -> schemas.AssignmentOut:
    """Hand a task to another account manager, with a note for them."""
    return await cases.assign(task_id, Assignment.DELEGATE, user, to=body.to, note=body.note)
