"""Whether the case must accept or must refuse a request, stated from the rules as the
business gives them (who may act, what needs a reason, in which stage), apart from the
validators that implement them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from closeout.contracts import Actor, TaskView
from closeout.domain import (
    ACCOUNT_MANAGER_GROUP,
    ALLOWED_DECISIONS,
    DECISIONS_NEEDING_COMMENT,
    Assignment,
    CustomerResponse,
    Role,
    Stage,
    TaskDecision,
    TaskKind,
    is_group,
)

STAFF = frozenset({Role.ACCOUNT_MANAGER, Role.MANAGER, Role.ADMIN})
SUPERVISORS = frozenset({Role.MANAGER, Role.ADMIN})
COMPLIANCE = frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN})
# Answers that only make sense while the closure can still be stopped.
ANSWERS_BEFORE_REVOCATION = frozenset(
    {CustomerResponse.STAY, CustomerResponse.OBJECT, CustomerResponse.DOWNLOAD_DATA}
)


class Expect(Enum):
    ACCEPT = "accept"
    REFUSE = "refuse"


def given(ok: bool) -> Expect:
    return Expect.ACCEPT if ok else Expect.REFUSE


def blank(text: str | None) -> bool:
    return not (text or "").strip()


def acts_for_customer(actor: Actor, owner: str) -> bool:
    """Staff who manage the customer: their account manager, or a supervisor."""
    return actor.role in SUPERVISORS or (actor.role == Role.ACCOUNT_MANAGER and actor.name == owner)


def decision(
    task: TaskView,
    choice: TaskDecision,
    actor: Actor,
    comment: str | None,
    defer_until: datetime | None,
    now: datetime,
    approvers: list[str],
    opened_by_for_four_eyes: str | None,
) -> Expect:
    if actor.role not in STAFF or choice not in ALLOWED_DECISIONS[task.kind]:
        return Expect.REFUSE
    if choice in DECISIONS_NEEDING_COMMENT and blank(comment):
        return Expect.REFUSE
    if choice is TaskDecision.DEFER and (defer_until is None or defer_until <= now):
        return Expect.REFUSE
    if task.kind is TaskKind.SECOND_APPROVAL and (
        actor.name in approvers or actor.name == opened_by_for_four_eyes
    ):
        return Expect.REFUSE
    return given(actor.role in SUPERVISORS or task.assignee == actor.name)


def assignment(
    task: TaskView, action: Assignment, actor: Actor, to: str | None, note: str | None
) -> Expect:
    if actor.role not in STAFF:
        return Expect.REFUSE
    supervisor = actor.role in SUPERVISORS
    if action is Assignment.CLAIM:
        return given(
            is_group(task.assignee) and (supervisor or task.assignee == ACCOUNT_MANAGER_GROUP)
        )
    if is_group(task.assignee) or not (supervisor or task.assignee == actor.name):
        return Expect.REFUSE
    if action is Assignment.DELEGATE:
        target = (to or "").strip()
        return given(
            bool(target) and not is_group(target) and target != task.assignee and not blank(note)
        )
    return Expect.ACCEPT


def answer(
    response: CustomerResponse,
    actor: Actor,
    owner: str,
    through_link: bool,
    link_used: bool,
    comment: str | None,
    stage: Stage,
) -> Expect:
    if through_link:
        if actor.role != "customer" or link_used:
            return Expect.REFUSE
    elif not acts_for_customer(actor, owner):
        return Expect.REFUSE
    if response in ANSWERS_BEFORE_REVOCATION and not stage.cancellable:
        return Expect.REFUSE
    return given(not (response is CustomerResponse.OBJECT and blank(comment)))


def cancel(actor: Actor, owner: str, reason: str, stage: Stage) -> Expect:
    return given(acts_for_customer(actor, owner) and not blank(reason) and stage.cancellable)


def reactivation(actor: Actor, owner: str, reason: str, stage: Stage) -> Expect:
    return given(acts_for_customer(actor, owner) and not blank(reason) and stage is Stage.RETENTION)


def compliance(actor: Actor, reason: str) -> bool:
    """Legal holds and retention are compliance's, and each change says why."""
    return actor.role in COMPLIANCE and not blank(reason)
