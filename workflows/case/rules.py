"""The rules of every request to a case: pure functions of (the case's state, the request,
now) that raise a refusal or return. The workflow's Update validators call them; being pure
they are tested row by row without a workflow (tests/workflows/test_case_rules.py).

Who may act is asked of closeout/access.py; each refusal is an ApplicationError whose type (a
`Refusal`) the API turns into its HTTP status.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.exceptions import ApplicationError

from closeout.access import (
    CLOSURE_ROLES,
    COMPLIANCE_ROLES,
    EVIDENCE_ROLES,
    REPLY_ROLES,
    SUPERVISORS,
    Refusal,
    may_relay_answer,
    owns_customer,
)
from closeout.contracts import (
    Actor,
    AssignRequest,
    CancelRequest,
    CustomerAnswer,
    DecisionRequest,
    EvidenceRequest,
    HoldReleaseRequest,
    HoldRequest,
    ReactivateRequest,
    ReplyReceived,
    RequestExtension,
    RetentionChange,
    RetentionPeriodsChange,
)
from closeout.domain import (
    ACCOUNT_MANAGER_GROUP,
    ALLOWED_DECISIONS,
    CUSTOMER_ACTOR_ROLE,
    DECISIONS_NEEDING_COMMENT,
    Assignment,
    CustomerResponse,
    DataCategory,
    Role,
    Stage,
    TaskDecision,
    TaskKind,
    Trigger,
    group_of,
    is_group,
    mailable,
)
from workflows.case.state import CaseState, CaseTask

# Answers that change the closure, so only while it can still be stopped.
_ANSWERS_BEFORE_REVOCATION = (
    CustomerResponse.STAY,
    CustomerResponse.OBJECT,
    CustomerResponse.DOWNLOAD_DATA,
)


def reject(message: str, kind: Refusal) -> ApplicationError:
    """A validator's refusal; `kind` tells the API which HTTP status it maps to."""
    return ApplicationError(message, type=kind, non_retryable=True)


# ---------------------------------------------------------------------- who is asking


def check_case(case: CaseState, case_id: str | None) -> None:
    """A request names its case (Closeout's own clients always do): one copied out of
    another case's history into this workflow is refused."""
    if case_id is not None and case_id != case.input.case_id:
        raise reject("the request is for another case", Refusal.FORBIDDEN)


def check_owner(case: CaseState, actor: Actor) -> None:
    """Staff act on a customer they manage (the API checks it before asking, this guards
    every other way in); the owner is known once the terms are in."""
    if actor.role != Role.ACCOUNT_MANAGER:
        return
    if case.terms is None:
        raise reject("the case is still starting: try again in a moment", Refusal.WRONG_STAGE)
    if not owns_customer(actor.role, actor.name, case.terms.owner):
        raise reject(
            f"this customer is {case.terms.owner}'s, not {actor.name}'s", Refusal.FORBIDDEN
        )


def check_keeper(actor: Actor) -> None:
    """Legal holds, retention ends and policies are the record keepers'."""
    if actor.role not in COMPLIANCE_ROLES:
        raise reject(f"role {actor.role} cannot manage legal holds or retention", Refusal.FORBIDDEN)


# ---------------------------------------------------------------------- tasks


def pending_task(case: CaseState, task_id: str) -> CaseTask:
    """The task a request is about, still waiting for someone, in a case still open."""
    task = case.tasks.get(task_id)
    if task is None:
        raise reject(f"task {task_id} is not part of this case", Refusal.UNKNOWN_TASK)
    if not task.pending:
        raise reject(f"task {task_id} has already been decided", Refusal.TASK_ALREADY_DECIDED)
    if case.outcome is not None or case.cancel_request is not None:
        raise reject(
            "the case is closing or closed: no decision can change it", Refusal.WRONG_STAGE
        )
    return task


def check_may_decide(kind: TaskKind, assignee: str, actor: Actor) -> None:
    """An account manager decides the tasks assigned to them; supervisors decide any."""
    if actor.role not in CLOSURE_ROLES:
        raise reject(f"role {actor.role} cannot decide closure tasks", Refusal.FORBIDDEN)
    if actor.role in SUPERVISORS or assignee == actor.name:
        return
    if is_group(assignee):
        if assignee == ACCOUNT_MANAGER_GROUP:
            raise reject("claim this task before deciding it", Refusal.TASK_NOT_CLAIMED)
        raise reject(f"a {kind} task is decided by a manager", Refusal.FORBIDDEN)
    raise reject(f"this task is assigned to {assignee}", Refusal.FORBIDDEN)


def check_decide(case: CaseState, req: DecisionRequest, now: datetime) -> None:
    task = pending_task(case, req.task_id)
    check_may_decide(task.kind, task.assignee, req.actor)
    if req.decision not in ALLOWED_DECISIONS[task.kind]:
        allowed = ", ".join(sorted(ALLOWED_DECISIONS[task.kind]))
        raise reject(
            f"a {task.kind} task takes one of: {allowed} (got {req.decision})",
            Refusal.INVALID_DECISION,
        )
    if req.decision in DECISIONS_NEEDING_COMMENT and not (req.comment or "").strip():
        raise reject(f"a comment is required to {req.decision}", Refusal.INVALID_DECISION)
    if req.decision is TaskDecision.DEFER:
        if req.defer_until is None:
            raise reject("defer needs a defer_until date", Refusal.INVALID_DECISION)
        if req.defer_until <= now:
            raise reject("the defer date must be in the future", Refusal.INVALID_DECISION)
    if req.decision is TaskDecision.MERGE:
        check_merge(case, req.merge_into)
    elif req.merge_into is not None:
        raise reject("only a merge names a customer to merge into", Refusal.INVALID_DECISION)
    if task.kind is TaskKind.SECOND_APPROVAL:
        if req.actor.name in case.approvers:
            raise reject(
                "the second approval must come from someone other than the first approver",
                Refusal.FOUR_EYES,
            )
        if case.input.trigger is Trigger.MANUAL and req.actor.name == case.input.opened_by:
            raise reject(
                "whoever opened a manual case cannot give its second approval", Refusal.FOUR_EYES
            )


def duplicates_of(case: CaseState) -> list[str]:
    """The customers a data-quality case found the same e-mail, phone or tax id with."""
    found = case.input.evidence.get("duplicate_of")
    return [str(i) for i in found] if isinstance(found, list) else []


def check_merge(case: CaseState, merge_into: str | None) -> None:
    """A record is merged into one of the duplicates its detection found, never into itself."""
    duplicates = duplicates_of(case)
    if not duplicates:
        raise reject("this record has no duplicate to merge into", Refusal.INVALID_DECISION)
    if merge_into not in duplicates:
        raise reject(
            f"merge into one of the duplicates found: {', '.join(duplicates)}",
            Refusal.INVALID_DECISION,
        )


def check_assignment(kind: TaskKind, assignee: str, req: AssignRequest) -> None:
    actor = req.actor
    if actor.role not in CLOSURE_ROLES:
        raise reject(f"role {actor.role} cannot take closure tasks", Refusal.FORBIDDEN)
    supervisor = actor.role in SUPERVISORS
    if req.action is Assignment.CLAIM:
        if not is_group(assignee):
            raise reject(f"this task is already claimed by {assignee}", Refusal.TASK_CLAIMED)
        if not supervisor and assignee != ACCOUNT_MANAGER_GROUP:
            raise reject(f"only managers claim tasks from {assignee}", Refusal.FORBIDDEN)
        return
    if is_group(assignee):
        raise reject("nobody has claimed this task yet", Refusal.TASK_NOT_CLAIMED)
    if not supervisor and assignee != actor.name:
        raise reject(f"this task is assigned to {assignee}", Refusal.FORBIDDEN)
    if req.action is Assignment.DELEGATE:
        to = (req.to or "").strip()
        if not to or is_group(to):
            raise reject("say whom to delegate the task to", Refusal.INVALID_REQUEST)
        if to == assignee:
            raise reject(f"the task is already assigned to {to}", Refusal.INVALID_REQUEST)
        if not (req.note or "").strip():
            raise reject("a note for the new assignee is required", Refusal.INVALID_REQUEST)


def check_assign(case: CaseState, req: AssignRequest) -> None:
    task = pending_task(case, req.task_id)
    check_assignment(task.kind, task.assignee, req)


def new_assignee(kind: TaskKind, req: AssignRequest) -> str:
    if req.action is Assignment.CLAIM:
        return req.actor.name
    if req.action is Assignment.UNCLAIM:
        return group_of(kind)
    assert req.to is not None
    return req.to.strip()


# ---------------------------------------------------------------------- the closure


def check_add_evidence(case: CaseState, req: EvidenceRequest) -> None:
    check_case(case, req.case_id)
    if req.actor.role not in EVIDENCE_ROLES:
        raise reject(f"role {req.actor.role} cannot add evidence to a case", Refusal.FORBIDDEN)
    if case.outcome is not None:
        raise reject("the case is closed", Refusal.WRONG_STAGE)
    if req.trigger in case.evidence_triggers:
        raise reject(f"the case already knows of {req.trigger}", Refusal.EVIDENCE_KNOWN)


def check_respond(case: CaseState, answer: CustomerAnswer) -> None:
    check_case(case, answer.case_id)
    actor = answer.actor
    if not may_relay_answer(actor.role):
        raise reject(f"role {actor.role} cannot answer for the customer", Refusal.FORBIDDEN)
    # The customer speaks through a signed link only, and staff relay without one.
    if (actor.role == CUSTOMER_ACTOR_ROLE) != (answer.link_id is not None):
        raise reject("a customer's own answer comes through a signed link", Refusal.FORBIDDEN)
    check_owner(case, actor)
    if answer.link_id is not None and answer.link_id in case.used_links:
        raise reject("this link has already been used", Refusal.LINK_USED)
    if case.outcome is not None:
        raise reject("the case is closed", Refusal.WRONG_STAGE)
    if answer.response in _ANSWERS_BEFORE_REVOCATION and not (
        case.stage.cancellable and case.cancel_request is None
    ):
        raise reject(
            "access has already been revoked: this answer no longer applies", Refusal.WRONG_STAGE
        )
    if answer.response is CustomerResponse.OBJECT and not (answer.comment or "").strip():
        raise reject("an objection needs the customer's text", Refusal.INVALID_REQUEST)


def answer_applies(case: CaseState, response: CustomerResponse) -> bool:
    """An answer that changes the closure counts only while the closure can still be stopped
    (a reply read later is kept on the case and changes nothing)."""
    return case.outcome is None and (
        response not in _ANSWERS_BEFORE_REVOCATION
        or (case.stage.cancellable and case.cancel_request is None)
    )


def check_reply(case: CaseState, req: ReplyReceived) -> None:
    """A reply by mail is handed over by the inbound service, to a case that is not over; the
    same reply handed twice is taken once."""
    check_case(case, req.case_id)
    if req.actor.role not in REPLY_ROLES:
        raise reject("replies are handed over by the inbound mail service", Refusal.FORBIDDEN)
    if req.inbound_id in case.replies:
        return
    if case.terms is None:
        raise reject("the case is still starting: try again in a moment", Refusal.WRONG_STAGE)
    if case.outcome is not None:
        raise reject("the case is closed", Refusal.WRONG_STAGE)


# Stages in which a customer's own request is still to be answered: before the archive, whose
# deletion of what the law does not require answers it.
_REQUEST_OPEN_STAGES = (Stage.OPENED, Stage.APPROVAL, Stage.BACKUP, Stage.REVOKE_ACCESS)


# A request is given more time this many times at most (each one mails the customer).
MAX_EXTENSIONS = 3


def check_extend_request(case: CaseState, req: RequestExtension, now: datetime) -> None:
    """The owner, a supervisor or a compliance officer gives a customer's own request more
    time, with a reason (the customer is told), within its first term (GDPR art. 12(3)), up
    to the law's longest and a few times at most."""
    check_case(case, req.case_id)
    if req.actor.role not in {*CLOSURE_ROLES, *COMPLIANCE_ROLES}:
        raise reject(f"role {req.actor.role} cannot extend a request", Refusal.FORBIDDEN)
    check_owner(case, req.actor)
    if case.request_due is None or case.request_first_due is None:
        raise reject("the case is not a customer's own request", Refusal.WRONG_STAGE)
    if case.outcome is not None or case.request_answered or case.stage not in _REQUEST_OPEN_STAGES:
        raise reject("the request has been answered or the case closed", Refusal.WRONG_STAGE)
    if not req.reason.strip():
        raise reject("an extension needs the reason the customer is told", Refusal.INVALID_REQUEST)
    if not mailable(req.reason):
        raise reject("the reason holds characters a mail cannot carry", Refusal.INVALID_REQUEST)
    if now > case.request_first_due:
        raise reject(
            "a request is extended within its first term, which has passed", Refusal.WRONG_STAGE
        )
    if case.request_extensions >= MAX_EXTENSIONS:
        raise reject(
            f"a request is extended {MAX_EXTENSIONS} times at most", Refusal.INVALID_REQUEST
        )
    if req.until <= case.request_due:
        raise reject(
            f"the request is already due {case.request_due.isoformat()}: extend past it",
            Refusal.INVALID_REQUEST,
        )
    assert case.terms is not None
    longest = case.request_first_due + (case.terms.request_extension_max or timedelta(0))
    if req.until > longest:
        raise reject(
            f"a request is answered by {longest.isoformat()} at the latest", Refusal.INVALID_REQUEST
        )


def check_cancel(case: CaseState, req: CancelRequest) -> None:
    check_case(case, req.case_id)
    if req.actor.role not in CLOSURE_ROLES:
        raise reject(f"role {req.actor.role} cannot cancel a closure", Refusal.FORBIDDEN)
    check_owner(case, req.actor)
    if not req.reason.strip():
        raise reject("a reason is required to cancel", Refusal.INVALID_REQUEST)
    if case.outcome is not None or case.cancel_request is not None:
        raise reject("the case is already closing or closed", Refusal.WRONG_STAGE)
    if not case.stage.cancellable:
        raise reject(
            f"the case is at {case.stage}: it can no longer be cancelled once access "
            "revocation has started",
            Refusal.WRONG_STAGE,
        )


# ---------------------------------------------------------------------- retention


def check_place_hold(case: CaseState, req: HoldRequest, now: datetime) -> None:
    check_case(case, req.case_id)
    check_keeper(req.actor)
    if not req.reason.strip():
        raise reject("a legal hold needs a reason", Refusal.INVALID_REQUEST)
    if req.review_at is not None and req.review_at <= now:
        raise reject("a hold's review date must lie in the future", Refusal.INVALID_REQUEST)
    if case.outcome is not None or case.stage is Stage.DELETION:
        raise reject("deletion has started or the case is closed", Refusal.WRONG_STAGE)


def check_release_hold(case: CaseState, req: HoldReleaseRequest) -> None:
    check_case(case, req.case_id)
    check_keeper(req.actor)
    if req.hold_id not in case.holds:
        raise reject(f"no active legal hold {req.hold_id} on this case", Refusal.UNKNOWN_HOLD)
    if not req.reason.strip():
        raise reject("releasing a legal hold needs a reason", Refusal.INVALID_REQUEST)


def check_change_retention(case: CaseState, req: RetentionChange) -> None:
    check_case(case, req.case_id)
    check_keeper(req.actor)
    if case.stage is not Stage.RETENTION or case.outcome is not None:
        raise reject(
            f"the retention end can only change during retention (stage is {case.stage})",
            Refusal.WRONG_STAGE,
        )
    if not req.reason.strip():
        raise reject("changing the retention end needs a reason", Refusal.INVALID_REQUEST)
    if req.category is not None and (
        case.clocks is None or req.category not in case.clocks.remaining()
    ):
        raise reject(
            f"the case keeps no {req.category} any more (or keeps no categories apart)",
            Refusal.INVALID_REQUEST,
        )


def check_apply_periods(case: CaseState, req: RetentionPeriodsChange) -> None:
    check_case(case, req.case_id)
    check_keeper(req.actor)
    if not req.reason.strip():
        raise reject("applying a changed policy needs a reason", Refusal.INVALID_REQUEST)
    if req.policy != case.input.policy:
        raise reject(f"the case runs under policy {case.input.policy!r}", Refusal.INVALID_REQUEST)
    if case.outcome is not None or case.stage is Stage.DELETION:
        raise reject("deletion has started or the case is closed", Refusal.WRONG_STAGE)
    if case.stage is Stage.RETENTION and case.clocks is None:
        raise reject(
            "this case keeps every category for one period; change its retention end",
            Refusal.WRONG_STAGE,
        )
    if any(p < timedelta(0) for p in req.periods.values()):
        raise reject("a retention period cannot be negative", Refusal.INVALID_REQUEST)
    # A case archived under periods for some categories only would split its backup into
    # those and drop the rest before any deletion: a policy names every category, or none.
    if req.periods and set(req.periods) != set(DataCategory):
        raise reject(
            "a policy's periods name every data category, or none", Refusal.INVALID_REQUEST
        )


def check_reactivate(case: CaseState, req: ReactivateRequest) -> None:
    check_case(case, req.case_id)
    if req.actor.role not in CLOSURE_ROLES:
        raise reject(f"role {req.actor.role} cannot reactivate a customer", Refusal.FORBIDDEN)
    check_owner(case, req.actor)
    if case.stage is not Stage.RETENTION or case.reactivate_request is not None:
        raise reject(
            f"only an archived customer in retention can be reactivated (stage is {case.stage})",
            Refusal.WRONG_STAGE,
        )
    if not req.reason.strip():
        raise reject("reactivation needs a reason", Refusal.INVALID_REQUEST)
