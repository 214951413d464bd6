"""Who may see and act on what: the one place the rules of roles and ownership live.

Pure functions over roles, names and owners, so the API, the pages and the case workflow's
validators all ask the same rules (the workflow imports this module too: nothing here may
do I/O or read the clock).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from closeout.domain import ACCOUNT_MANAGER_GROUP, CUSTOMER_ACTOR_ROLE, SYSTEM_ACTOR, Role

# Managers and admins act on any case and any task (escalations, second approvals).
SUPERVISORS = frozenset({Role.MANAGER, Role.ADMIN})
# Who manages customers: opens, decides, cancels and reactivates closures.
CLOSURE_ROLES = frozenset({Role.ACCOUNT_MANAGER, *SUPERVISORS})
# Who keeps the records: legal holds, retention ends, policies, certificates, the audit.
COMPLIANCE_ROLES = frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN})
# Who reads cases and customers: every person; an integration's token only raises triggers.
READER_ROLES = frozenset({*CLOSURE_ROLES, *COMPLIANCE_ROLES})
# Who raises triggers from another system: the CRM's token, or an admin trying it out.
TRIGGER_ROLES = frozenset({Role.INTEGRATION, Role.ADMIN})
# Who may add evidence to an open case: whoever may raise a trigger or open a case, and the
# scheduled detection.
EVIDENCE_ROLES = frozenset({*TRIGGER_ROLES, *CLOSURE_ROLES, SYSTEM_ACTOR})
# Who hands a customer's reply by mail to its case: Closeout's inbound mail service alone.
REPLY_ROLES = frozenset({SYSTEM_ACTOR})
# Who signs in to the pages and holds tokens of their own: people. The integration role is
# another system's, whose tokens alone may name that system instead of a user.
PEOPLE_ROLES = READER_ROLES
# Who may be given a task by delegation.
DELEGATE_ROLES = frozenset({Role.ACCOUNT_MANAGER, Role.MANAGER})
# Who may read a case's history in the Temporal Web UI through the codec: those who answer
# for cases and records, not every account manager.
HISTORY_READERS = frozenset({*SUPERVISORS, *COMPLIANCE_ROLES})


class Refusal(StrEnum):
    """Why a request to a case is refused: the type of the workflow validator's error, which
    the API turns into its HTTP status (api/errors.py)."""

    FORBIDDEN = "Forbidden"  # the actor's role or ownership does not allow it
    WRONG_STAGE = "WrongStage"  # not at this point of the case
    INVALID_REQUEST = "InvalidRequest"  # a reason, date or field missing or wrong
    INVALID_DECISION = "InvalidDecision"  # a decision this task does not take, or incomplete
    FOUR_EYES = "FourEyes"  # the second approval must come from someone else
    UNKNOWN_TASK = "UnknownTask"
    UNKNOWN_HOLD = "UnknownHold"
    TASK_ALREADY_DECIDED = "TaskAlreadyDecided"
    TASK_CLAIMED = "TaskClaimed"  # someone already took it
    TASK_NOT_CLAIMED = "TaskNotClaimed"  # a group's task: claim it first
    LINK_USED = "LinkUsed"
    EVIDENCE_KNOWN = "EvidenceKnown"


def sees_every_customer(role: str) -> bool:
    """Everyone but an account manager reads every case (an integration reads none)."""
    return role in READER_ROLES and role != Role.ACCOUNT_MANAGER


def owns_customer(role: str, name: str, owner: str | None) -> bool:
    """May act on this customer's case: their account manager, or a supervisor."""
    if role in SUPERVISORS:
        return True
    return role == Role.ACCOUNT_MANAGER and owner is not None and owner == name


def may_see_case(role: str, name: str, owner: str | None, assignees: Iterable[str]) -> bool:
    """An account manager sees their own customers' cases and the cases of tasks given them."""
    if sees_every_customer(role):
        return True
    if role != Role.ACCOUNT_MANAGER:
        return False
    return owner == name or name in assignees


def may_see_task(role: str, name: str, assignee: str, owner: str | None) -> bool:
    """An account manager sees their own tasks, their group's queue and their customers'."""
    if role in SUPERVISORS:
        return True
    if role != Role.ACCOUNT_MANAGER:
        return False
    return assignee in (name, ACCOUNT_MANAGER_GROUP) or owner == name


def may_choose_policy(role: str) -> bool:
    """A case's retention policy is the one the policy rules give its customer, unless whoever
    keeps the records names another: how long data is kept is theirs to decide, as moving a
    retention end is (an account manager naming a shorter policy would shorten the law's)."""
    return role in COMPLIANCE_ROLES


def may_relay_answer(role: str) -> bool:
    """A customer's answer comes through their signed link, or relayed by staff who manage
    customers (an answer given by phone)."""
    return role in CLOSURE_ROLES or role == CUSTOMER_ACTOR_ROLE
