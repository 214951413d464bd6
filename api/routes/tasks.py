"""Human tasks: the inbox, and decisions on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import schemas
from api.deps import AccountManager, CaseServiceDep, CurrentUser
from closeout.domain import TaskStatus

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.get("")
def list_tasks(
    _user: CurrentUser,
    cases: CaseServiceDep,
    status: TaskStatus | None = None,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> schemas.PageOut[schemas.TaskOut]:
    """Tasks, soonest due first."""
    return cases.list_tasks(status, assignee, limit, offset)


@router.post("/{task_id}/decision", status_code=202)
async def decide(
    task_id: str, body: schemas.DecisionIn, user: AccountManager, cases: CaseServiceDep
) -> schemas.DecisionOut:
    """Record an account manager's decision on a task."""
    return await cases.decide(task_id, body, user)
