"""Every rule of every request to a case, row by row, without a workflow: the rules are pure
functions of (the case's state, the request, now) in workflows/case/rules.py.

Each row names a state, a request and the refusal expected (None: accepted). The last test
checks that every refusal the rules can raise is met by some row.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from closeout.access import Refusal
from closeout.contracts import (
    Actor,
    AssignRequest,
    CancelRequest,
    CaseTerms,
    CloseCustomerInput,
    CustomerAnswer,
    DecisionRequest,
    EvidenceRequest,
    HoldReleaseRequest,
    HoldRequest,
    HoldView,
    ReactivateRequest,
    ReplyReceived,
    RequestExtension,
    RetentionChange,
    RetentionPeriodsChange,
)
from closeout.domain import (
    ACCOUNT_MANAGER_GROUP,
    CUSTOMER_ACTOR_ROLE,
    MANAGER_GROUP,
    SYSTEM_ACTOR,
    Assignment,
    ChurnClass,
    CustomerResponse,
    DataCategory,
    Outcome,
    Role,
    Stage,
    TaskDecision,
    TaskKind,
    Trigger,
)
from workflows.case import rules
from workflows.case.state import CaseState, CaseTask
from workflows.retention import RetentionClocks

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
OWNER = Actor("ann@example.com", Role.ACCOUNT_MANAGER)
OTHER_AM = Actor("bob@example.com", Role.ACCOUNT_MANAGER)
MANAGER = Actor("max@example.com", Role.MANAGER)
SECOND_MANAGER = Actor("mia@example.com", Role.MANAGER)
COMPLIANCE = Actor("kim@example.com", Role.COMPLIANCE_OFFICER)
ADMIN = Actor("root@example.com", Role.ADMIN)
CUSTOMER = Actor("customer", CUSTOMER_ACTOR_ROLE)
INTEGRATION = Actor("crm", Role.INTEGRATION)
DETECTION = Actor(SYSTEM_ACTOR, SYSTEM_ACTOR)
CASE_ID = "case-1"
EVERY_CATEGORY = {c: 365 * DAY for c in DataCategory}


@dataclass
class State:
    """The case a row starts from; each field a part of CaseState that a rule reads."""

    stage: Stage = Stage.APPROVAL
    terms: bool = True
    outcome: bool = False
    cancelled: bool = False
    reactivated: bool = False
    approvers: tuple[str, ...] = ()
    trigger: Trigger = Trigger.INACTIVITY
    opened_by: str = SYSTEM_ACTOR
    by_category: bool = False
    holds: tuple[str, ...] = ()
    used_links: tuple[str, ...] = ()
    deleted: tuple[DataCategory, ...] = ()
    extra_tasks: dict[str, tuple[TaskKind, str, bool]] = field(default_factory=dict)
    replies: tuple[str, ...] = ()
    # A customer's own request: due in 30 days, extendable by 60 in all; answered or not.
    request: bool = False
    answered: bool = False
    extensions: int = 0

    def build(self) -> CaseState:
        case = CaseState(
            CloseCustomerInput(
                CASE_ID, "cust-1", self.trigger, ChurnClass.NATURAL, "standard", self.opened_by
            )
        )
        case.stage = self.stage
        if self.terms:
            case.terms = CaseTerms(OWNER.name, "standard", DAY, DAY, DAY, 365 * DAY, True)
        if self.outcome:
            case.outcome = Outcome.CANCELLED
        if self.cancelled:
            case.cancel_request = CancelRequest("stop", OWNER)
        if self.reactivated:
            case.reactivate_request = ReactivateRequest("back", OWNER)
        case.approvers = list(self.approvers)
        tasks = {
            "approval": (TaskKind.APPROVAL, OWNER.name, False),
            "second": (TaskKind.SECOND_APPROVAL, MANAGER_GROUP, False),
            "win-back": (TaskKind.WIN_BACK, OWNER.name, False),
            "queued": (TaskKind.APPROVAL, ACCOUNT_MANAGER_GROUP, False),
            "review": (TaskKind.OBJECTION_REVIEW, MANAGER_GROUP, False),
            "done": (TaskKind.APPROVAL, OWNER.name, True),
            **self.extra_tasks,
        }
        for task_id, (kind, assignee, closed) in tasks.items():
            case.tasks[task_id] = CaseTask(task_id, kind, assignee, NOW, None, closed=closed)
        if self.by_category:
            case.clocks = RetentionClocks.start(NOW, EVERY_CATEGORY)
            case.clocks.mark_deleted(list(self.deleted), NOW)
        for hold_id in self.holds:
            case.holds[hold_id] = HoldView(hold_id, "litigation", COMPLIANCE.name, NOW)
        case.used_links = set(self.used_links)
        case.replies = {r: f"task-of-{r}" for r in self.replies}
        if self.request:
            case.request_first_due = case.request_due = NOW + 30 * DAY
            case.request_answered = self.answered
            case.request_extensions = self.extensions
            if case.terms is not None:
                case.terms = replace(case.terms, request_extension_max=60 * DAY)
        return case


Check = Callable[[CaseState], None]


def decide(task: str, decision: TaskDecision, actor: Actor = OWNER, **kw: object) -> Check:
    req = DecisionRequest(task, decision, actor, **kw)  # type: ignore[arg-type]
    return lambda case: rules.check_decide(case, req, NOW)


def assign(task: str, action: Assignment, actor: Actor, **kw: object) -> Check:
    req = AssignRequest(task, action, actor, **kw)  # type: ignore[arg-type]
    return lambda case: rules.check_assign(case, req)


def evidence(
    actor: Actor, trigger: Trigger = Trigger.PAYMENT_ARREARS, case_id: str = CASE_ID
) -> Check:
    req = EvidenceRequest(trigger, {"days": 40}, actor, case_id)
    return lambda case: rules.check_add_evidence(case, req)


def answer(response: CustomerResponse, actor: Actor = CUSTOMER, **kw: object) -> Check:
    if actor is CUSTOMER:
        kw.setdefault("link_id", "link-1")
    kw.setdefault("case_id", CASE_ID)
    req = CustomerAnswer(response, actor, **kw)  # type: ignore[arg-type]
    return lambda case: rules.check_respond(case, req)


def reply(actor: Actor = DETECTION, inbound_id: str = "mail-2", case_id: str = CASE_ID) -> Check:
    req = ReplyReceived(inbound_id, NOW, actor, case_id)
    return lambda case: rules.check_reply(case, req)


def extend(days: int = 50, actor: Actor = OWNER, reason: str = "archives to search") -> Check:
    req = RequestExtension(NOW + days * DAY, reason, actor, CASE_ID)
    return lambda case: rules.check_extend_request(case, req, NOW)


def cancel(actor: Actor = OWNER, reason: str = "agreed", case_id: str = CASE_ID) -> Check:
    return lambda case: rules.check_cancel(case, CancelRequest(reason, actor, case_id))


def hold(actor: Actor = COMPLIANCE, reason: str = "litigation", review_at: datetime | None = None,
         case_id: str = CASE_ID) -> Check:  # fmt: skip
    req = HoldRequest(reason, actor, "REF-1", review_at, case_id)
    return lambda case: rules.check_place_hold(case, req, NOW)


def release(hold_id: str = "h1", actor: Actor = COMPLIANCE, reason: str = "settled") -> Check:
    req = HoldReleaseRequest(hold_id, reason, actor, CASE_ID)
    return lambda case: rules.check_release_hold(case, req)


def retention(actor: Actor = COMPLIANCE, reason: str = "court order",
              category: DataCategory | None = None) -> Check:  # fmt: skip
    req = RetentionChange(NOW + 900 * DAY, reason, actor, category, CASE_ID)
    return lambda case: rules.check_change_retention(case, req)


def periods(actor: Actor = COMPLIANCE, reason: str = "new law", policy: str = "standard",
            given: dict[DataCategory, timedelta] | None = None) -> Check:  # fmt: skip
    req = RetentionPeriodsChange(policy, EVERY_CATEGORY if given is None else given, reason,
                                 actor, CASE_ID)  # fmt: skip
    return lambda case: rules.check_apply_periods(case, req)


def reactivate(actor: Actor = OWNER, reason: str = "came back") -> Check:
    return lambda case: rules.check_reactivate(case, ReactivateRequest(reason, actor, CASE_ID))


R = Refusal
A = TaskDecision
RETAINED = State(stage=Stage.RETENTION)
IN_CATEGORIES = State(stage=Stage.RETENTION, by_category=True)
ROWS: list[tuple[str, State, Check, Refusal | None]] = [
    # ---- decide
    ("owner approves their task", State(), decide("approval", A.APPROVE), None),
    ("a manager decides anyone's task", State(), decide("approval", A.APPROVE, MANAGER), None),
    ("unknown task", State(), decide("nope", A.APPROVE), R.UNKNOWN_TASK),
    ("closed task", State(), decide("done", A.APPROVE), R.TASK_ALREADY_DECIDED),
    ("case closed", State(outcome=True), decide("approval", A.APPROVE), R.WRONG_STAGE),
    ("case cancelling", State(cancelled=True), decide("approval", A.APPROVE), R.WRONG_STAGE),
    ("compliance decides", State(), decide("approval", A.APPROVE, COMPLIANCE), R.FORBIDDEN),
    ("someone else's task", State(), decide("approval", A.APPROVE, OTHER_AM), R.FORBIDDEN),
    ("queued task unclaimed", State(), decide("queued", A.APPROVE), R.TASK_NOT_CLAIMED),
    ("managers' task by an AM", State(), decide("second", A.APPROVE), R.FORBIDDEN),
    ("win-back takes no approve", State(), decide("win-back", A.APPROVE), R.INVALID_DECISION),
    ("reject without comment", State(), decide("approval", A.REJECT), R.INVALID_DECISION),
    ("reject with blank comment", State(), decide("approval", A.REJECT, comment=" "),
     R.INVALID_DECISION),
    ("reject with comment", State(), decide("approval", A.REJECT, comment="no"), None),
    ("defer without date", State(), decide("approval", A.DEFER, comment="later"),
     R.INVALID_DECISION),
    ("defer into the past", State(),
     decide("approval", A.DEFER, comment="later", defer_until=NOW), R.INVALID_DECISION),
    ("defer into the future", State(),
     decide("approval", A.DEFER, comment="later", defer_until=NOW + DAY), None),
    ("second approval by the first approver", State(approvers=(MANAGER.name,)),
     decide("second", A.APPROVE, MANAGER), R.FOUR_EYES),
    ("second approval by another", State(approvers=(OWNER.name,)),
     decide("second", A.APPROVE, MANAGER), None),
    ("second approval by a manual case's opener",
     State(approvers=(OWNER.name,), trigger=Trigger.MANUAL, opened_by=MANAGER.name),
     decide("second", A.APPROVE, MANAGER), R.FOUR_EYES),
    # ---- assign
    ("AM claims from their queue", State(), assign("queued", Assignment.CLAIM, OWNER), None),
    ("claim a claimed task", State(), assign("approval", Assignment.CLAIM, MANAGER),
     R.TASK_CLAIMED),
    ("AM claims from the managers' queue", State(), assign("second", Assignment.CLAIM, OWNER),
     R.FORBIDDEN),
    ("manager claims from the managers' queue", State(),
     assign("second", Assignment.CLAIM, MANAGER), None),
    ("compliance claims", State(), assign("queued", Assignment.CLAIM, COMPLIANCE), R.FORBIDDEN),
    ("unclaim an unclaimed task", State(), assign("queued", Assignment.UNCLAIM, OWNER),
     R.TASK_NOT_CLAIMED),
    ("unclaim someone else's", State(), assign("approval", Assignment.UNCLAIM, OTHER_AM),
     R.FORBIDDEN),
    ("unclaim one's own", State(), assign("approval", Assignment.UNCLAIM, OWNER), None),
    ("delegate to nobody", State(), assign("approval", Assignment.DELEGATE, OWNER, note="x"),
     R.INVALID_REQUEST),
    ("delegate to a group", State(),
     assign("approval", Assignment.DELEGATE, OWNER, to=MANAGER_GROUP, note="x"),
     R.INVALID_REQUEST),
    ("delegate to the assignee", State(),
     assign("approval", Assignment.DELEGATE, OWNER, to=OWNER.name, note="x"), R.INVALID_REQUEST),
    ("delegate without a note", State(),
     assign("approval", Assignment.DELEGATE, OWNER, to=OTHER_AM.name), R.INVALID_REQUEST),
    ("delegate with a note", State(),
     assign("approval", Assignment.DELEGATE, OWNER, to=OTHER_AM.name, note="on leave"), None),
    ("assign a decided task", State(), assign("done", Assignment.UNCLAIM, OWNER),
     R.TASK_ALREADY_DECIDED),
    # ---- add evidence
    ("detection adds evidence", State(), evidence(DETECTION), None),
    ("the CRM adds evidence", State(), evidence(INTEGRATION), None),
    ("compliance adds evidence", State(), evidence(COMPLIANCE), R.FORBIDDEN),
    ("evidence for another case", State(), evidence(INTEGRATION, case_id="case-2"), R.FORBIDDEN),
    ("evidence on a closed case", State(outcome=True), evidence(INTEGRATION), R.WRONG_STAGE),
    ("the trigger it was opened for", State(), evidence(INTEGRATION, Trigger.INACTIVITY),
     R.EVIDENCE_KNOWN),
    # ---- respond
    ("customer stays by link", State(stage=Stage.WIN_BACK), answer(CustomerResponse.STAY), None),
    ("customer without a link", State(), answer(CustomerResponse.STAY, link_id=None),
     R.FORBIDDEN),
    ("staff relay with a link", State(), answer(CustomerResponse.STAY, OWNER, link_id="l"),
     R.FORBIDDEN),
    ("owner relays by phone", State(), answer(CustomerResponse.STAY, OWNER), None),
    ("another AM relays", State(), answer(CustomerResponse.STAY, OTHER_AM), R.FORBIDDEN),
    ("AM relays before the terms", State(terms=False), answer(CustomerResponse.STAY, OWNER),
     R.WRONG_STAGE),
    ("compliance relays", State(), answer(CustomerResponse.STAY, COMPLIANCE), R.FORBIDDEN),
    ("link used twice", State(used_links=("link-1",)), answer(CustomerResponse.STAY),
     R.LINK_USED),
    ("answer for another case", State(), answer(CustomerResponse.STAY, case_id="case-2"),
     R.FORBIDDEN),
    ("answer on a closed case", State(outcome=True), answer(CustomerResponse.CONFIRM_CLOSURE),
     R.WRONG_STAGE),
    ("stay after revocation", State(stage=Stage.REVOKE_ACCESS), answer(CustomerResponse.STAY),
     R.WRONG_STAGE),
    ("download while cancelling", State(cancelled=True),
     answer(CustomerResponse.DOWNLOAD_DATA), R.WRONG_STAGE),
    ("confirm after revocation", State(stage=Stage.ARCHIVE),
     answer(CustomerResponse.CONFIRM_CLOSURE), None),
    ("object without text", State(), answer(CustomerResponse.OBJECT, comment=" "),
     R.INVALID_REQUEST),
    ("object with text", State(), answer(CustomerResponse.OBJECT, comment="on leave"), None),
    # ---- cancel
    ("owner cancels", State(), cancel(), None),
    ("compliance cancels", State(), cancel(COMPLIANCE), R.FORBIDDEN),
    ("another AM cancels", State(), cancel(OTHER_AM), R.FORBIDDEN),
    ("cancel another case", State(), cancel(case_id="case-2"), R.FORBIDDEN),
    ("cancel without reason", State(), cancel(reason="  "), R.INVALID_REQUEST),
    ("cancel twice", State(cancelled=True), cancel(), R.WRONG_STAGE),
    ("cancel a closed case", State(outcome=True), cancel(), R.WRONG_STAGE),
    ("cancel once revoking", State(stage=Stage.REVOKE_ACCESS), cancel(MANAGER), R.WRONG_STAGE),
    # ---- legal holds
    ("compliance places a hold", RETAINED, hold(), None),
    ("an admin places a hold", State(), hold(ADMIN), None),
    ("a manager places a hold", RETAINED, hold(MANAGER), R.FORBIDDEN),
    ("hold on another case", RETAINED, hold(case_id="case-2"), R.FORBIDDEN),
    ("hold without reason", RETAINED, hold(reason=""), R.INVALID_REQUEST),
    ("hold reviewed in the past", RETAINED, hold(review_at=NOW), R.INVALID_REQUEST),
    ("hold reviewed in the future", RETAINED, hold(review_at=NOW + DAY), None),
    ("hold once deletion started", State(stage=Stage.DELETION), hold(), R.WRONG_STAGE),
    ("hold on a closed case", State(stage=Stage.RETENTION, outcome=True), hold(),
     R.WRONG_STAGE),
    # ---- a reply by mail, and how it is read
    ("the inbound service hands a reply", State(), reply(), None),
    ("a reply in retention", RETAINED, reply(), None),
    ("a reply handed by staff", State(), reply(OWNER), R.FORBIDDEN),
    ("a reply for another case", State(), reply(case_id="case-2"), R.FORBIDDEN),
    ("a reply to a closed case", State(outcome=True), reply(), R.WRONG_STAGE),
    ("a reply before the terms are in", State(terms=False), reply(), R.WRONG_STAGE),
    ("the same reply handed again", State(outcome=True, replies=("mail-2",)), reply(), None),
    ("the owner reads a reply",
     State(extra_tasks={"read": (TaskKind.CUSTOMER_REPLY, OWNER.name, False)}),
     decide("read", A.REQUEST_DELETION), None),
    ("a reply read in retention",
     State(stage=Stage.RETENTION,
           extra_tasks={"read": (TaskKind.CUSTOMER_REPLY, OWNER.name, False)}),
     decide("read", A.STAY), None),
    ("a reply read as an approval",
     State(extra_tasks={"read": (TaskKind.CUSTOMER_REPLY, OWNER.name, False)}),
     decide("read", A.APPROVE), R.INVALID_DECISION),
    ("someone else reads the owner's reply",
     State(extra_tasks={"read": (TaskKind.CUSTOMER_REPLY, OWNER.name, False)}),
     decide("read", A.OTHER, OTHER_AM), R.FORBIDDEN),
    # ---- a customer's own request: more time to answer
    ("the owner extends a request", State(request=True), extend(), None),
    ("compliance extends a request", State(request=True), extend(actor=COMPLIANCE), None),
    ("extend before the archive", State(stage=Stage.REVOKE_ACCESS, request=True), extend(), None),
    ("another AM extends", State(request=True), extend(actor=OTHER_AM), R.FORBIDDEN),
    ("the integration extends", State(request=True), extend(actor=INTEGRATION), R.FORBIDDEN),
    ("extend a case that is no request", State(), extend(), R.WRONG_STAGE),
    ("extend an answered request", State(request=True, answered=True), extend(),
     R.WRONG_STAGE),
    ("extend in retention", State(stage=Stage.RETENTION, request=True), extend(),
     R.WRONG_STAGE),
    ("extend a closed case", State(request=True, outcome=True), extend(), R.WRONG_STAGE),
    ("extend without a reason", State(request=True), extend(reason=" "), R.INVALID_REQUEST),
    ("extend with an unmailable reason", State(request=True), extend(reason="why\ud800"),
     R.INVALID_REQUEST),
    ("extend to before it is due", State(request=True), extend(days=30), R.INVALID_REQUEST),
    ("extend past the law's longest", State(request=True), extend(days=91),
     R.INVALID_REQUEST),
    ("extend to the law's longest", State(request=True), extend(days=90), None),
    ("extend a third time", State(request=True, extensions=2), extend(), None),
    ("extend a fourth time", State(request=True, extensions=3), extend(), R.INVALID_REQUEST),
    ("extend after the first term", State(request=True),
     lambda case: rules.check_extend_request(
         case, RequestExtension(NOW + 50 * DAY, "late", OWNER, CASE_ID), NOW + 31 * DAY),
     R.WRONG_STAGE),
    ("release a hold", State(holds=("h1",)), release(), None),
    ("release an unknown hold", State(holds=("h1",)), release("h2"), R.UNKNOWN_HOLD),
    ("release without reason", State(holds=("h1",)), release(reason=" "), R.INVALID_REQUEST),
    ("an AM releases a hold", State(holds=("h1",)), release(actor=OWNER), R.FORBIDDEN),
    # ---- retention end
    ("move the end in retention", RETAINED, retention(), None),
    ("move the end before retention", State(stage=Stage.ARCHIVE), retention(), R.WRONG_STAGE),
    ("move the end of a closed case", State(stage=Stage.RETENTION, outcome=True), retention(),
     R.WRONG_STAGE),
    ("move the end without reason", RETAINED, retention(reason=""), R.INVALID_REQUEST),
    ("an AM moves the end", RETAINED, retention(OWNER), R.FORBIDDEN),
    ("move one category's end", IN_CATEGORIES,
     retention(category=DataCategory.CONTACT_DATA), None),
    ("move a deleted category's end",
     State(stage=Stage.RETENTION, by_category=True, deleted=(DataCategory.CONTACT_DATA,)),
     retention(category=DataCategory.CONTACT_DATA), R.INVALID_REQUEST),
    ("move a category of a one-period case", RETAINED,
     retention(category=DataCategory.CONTACT_DATA), R.INVALID_REQUEST),
    # ---- a changed policy
    ("apply periods in retention", IN_CATEGORIES, periods(), None),
    ("apply periods before the archive", State(), periods(), None),
    ("apply no periods", State(), periods(given={}), None),
    ("apply periods without reason", IN_CATEGORIES, periods(reason=" "), R.INVALID_REQUEST),
    ("apply another policy", IN_CATEGORIES, periods(policy="strict"), R.INVALID_REQUEST),
    ("apply periods once deleting", State(stage=Stage.DELETION), periods(), R.WRONG_STAGE),
    ("apply periods to a closed case", State(outcome=True), periods(), R.WRONG_STAGE),
    ("apply periods to a one-period case", RETAINED, periods(), R.WRONG_STAGE),
    ("apply a negative period", IN_CATEGORIES,
     periods(given={**EVERY_CATEGORY, DataCategory.CONTACT_DATA: -DAY}), R.INVALID_REQUEST),
    ("apply periods for some categories", IN_CATEGORIES,
     periods(given={DataCategory.CONTACT_DATA: DAY}), R.INVALID_REQUEST),
    ("a manager applies periods", IN_CATEGORIES, periods(MANAGER), R.FORBIDDEN),
    # ---- reactivation
    ("owner reactivates", RETAINED, reactivate(), None),
    ("compliance reactivates", RETAINED, reactivate(COMPLIANCE), R.FORBIDDEN),
    ("another AM reactivates", RETAINED, reactivate(OTHER_AM), R.FORBIDDEN),
    ("reactivate before retention", State(stage=Stage.ARCHIVE), reactivate(), R.WRONG_STAGE),
    ("reactivate twice", State(stage=Stage.RETENTION, reactivated=True), reactivate(),
     R.WRONG_STAGE),
    ("reactivate without reason", RETAINED, reactivate(reason=""), R.INVALID_REQUEST),
]  # fmt: skip


@pytest.mark.parametrize(("state", "check", "expected"), [r[1:] for r in ROWS],
                         ids=[r[0] for r in ROWS])  # fmt: skip
def test_rule(state: State, check: Check, expected: Refusal | None) -> None:
    case = state.build()
    if expected is None:
        check(case)
        return
    with pytest.raises(ApplicationError) as refused:
        check(case)
    assert refused.value.type == expected and refused.value.non_retryable
    assert refused.value.message  # every refusal says why


@pytest.mark.parametrize(
    ("state", "response", "applies"),
    [
        (State(stage=Stage.WIN_BACK), CustomerResponse.STAY, True),
        (State(stage=Stage.AWAITING_EFFECTIVE_DATE), CustomerResponse.OBJECT, True),
        (State(stage=Stage.AWAITING_EFFECTIVE_DATE, cancelled=True), CustomerResponse.OBJECT,
         False),
        (State(stage=Stage.RETENTION), CustomerResponse.STAY, False),
        (State(stage=Stage.RETENTION), CustomerResponse.CONFIRM_CLOSURE, True),
        (State(stage=Stage.RETENTION, outcome=True), CustomerResponse.CONFIRM_CLOSURE, False),
    ],
)  # fmt: skip
def test_a_reply_read_late_changes_the_closure_only_while_it_can(
    state: State, response: CustomerResponse, applies: bool
) -> None:
    assert rules.answer_applies(state.build(), response) is applies


def test_every_refusal_the_rules_raise_has_a_row() -> None:
    source = ast.parse(Path(rules.__file__).read_text())
    raised = {
        node.attr
        for node in ast.walk(source)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Refusal"
    }
    met = {r[3].name for r in ROWS if r[3] is not None}
    assert raised == met
    # Each rule's function has rows that accept and rows that refuse.
    assert {r[3] for r in ROWS} >= {None, *Refusal}
