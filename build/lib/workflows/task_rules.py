"""Who may act on a task: the rules the case workflow's validators apply.

Pure functions over the task's kind and assignee and the actor, so they are deterministic and
easy to test. Each refusal is an ApplicationError whose type the API maps to an HTTP status.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from closeout.access import CLOSURE_ROLES, SUPERVISORS
from closeout.contracts import Actor, AssignRequest
from closeout.domain import (
    ACCOUNT_MANAGER_GROUP,
    Assignment,
    TaskKind,
    group_of,
    is_group,
)


def reject(message: str, kind: str) -> ApplicationError:
    """A validator's refusal; `kind` tells the API which HTTP status it maps to."""
    return ApplicationError(message, type=kind, non_retryable=True)


def check_may_decide(kind: TaskKind, assignee: str, actor: Actor) -> None:
    """An account manager decides the tasks assigned to them; supervisors decide any."""
    if actor.role not in CLOSURE_ROLES:
        raise reject(f"role {actor.role} cannot decide closure tasks", "Forbidden")
    if actor.role in SUPERVISORS or assignee == actor.name:
        return
    if is_group(assignee):
        if assignee == ACCOUNT_MANAGER_GROUP:
            raise reject("claim this task before deciding it", "TaskNotClaimed")
        raise reject(f"a {kind} task is decided by a manager", "Forbidden")
    raise reject(f"this task is assigned to {assignee}", "Forbidden")


def check_assignment(kind: TaskKind, assignee: str, req: AssignRequest) -> None:
    actor = req.actor
    if actor.role not in CLOSURE_ROLES:
        raise reject(f"role {actor.role} cannot take closure tasks", "Forbidden")
    supervisor = actor.role in SUPERVISORS
    if req.action is Assignment.CLAIM:
        if not is_group(assignee):
            raise reject(f"this task is already claimed by {assignee}", "TaskClaimed")
        if not supervisor and assignee != ACCOUNT_MANAGER_GROUP:
            raise reject(f"only managers claim tasks from {assignee}", "Forbidden")
        return
    if is_group(assignee):
        raise reject("nobody has claimed this task yet", "TaskNotClaimed")
    if not supervisor and assignee != actor.name:
        raise reject(f"this task is assigned to {assignee}", "Forbidden")
    if req.action is Assignment.DELEGATE:
        to = (req.to or "").strip()
        if not to or is_group(to):
            raise reject("say whom to delegate the task to", "InvalidRequest")
        if to == assignee:
            raise reject(f"the task is already assigned to {to}", "InvalidRequest")
        if not (req.note or "").strip():
            raise reject("a note for the new assignee is required", "InvalidRequest")


def new_assignee(kind: TaskKind, req: AssignRequest) -> str:
    if req.action is Assignment.CLAIM:
        return req.actor.name
    if req.action is Assignment.UNCLAIM:
        return group_of(kind)
    assert req.to is not None
    return req.to.strip()
