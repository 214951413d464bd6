"""Typed dependencies: settings, database, services, and the calling user."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.adapters import ApiAdapters
from api.answer_service import CustomerAnswers
from api.compliance_service import ComplianceService
from api.customer_service import CustomerService
from api.errors import Forbidden
from api.policy_service import PolicyService
from api.request_service import RequestService
from api.service import CaseService
from api.task_board import TaskBoard
from api.trigger_service import TriggerService
from closeout.access import CLOSURE_ROLES, COMPLIANCE_ROLES, READER_ROLES, TRIGGER_ROLES
from closeout.db import Database
from closeout.domain import Role
from closeout.settings import Settings
from closeout.tokens import Principal, TokenRefused, check_token

bearer = HTTPBearer(auto_error=False, description="A token from `closeout tokens create`")


T = TypeVar("T")


def from_state(name: str, kind: type[T]) -> Callable[[Request], T]:
    """A dependency handing out what the app's lifespan built under `name`."""

    def get(request: Request) -> T:
        found = getattr(request.app.state, name)
        assert isinstance(found, kind)
        return found

    get.__name__ = f"get_{name}"
    return get


SettingsDep = Annotated[Settings, Depends(from_state("settings", Settings))]
DatabaseDep = Annotated[Database, Depends(from_state("db", Database))]
AdaptersDep = Annotated[ApiAdapters, Depends(from_state("adapters", ApiAdapters))]
CaseServiceDep = Annotated[CaseService, Depends(from_state("cases", CaseService))]
AnswersDep = Annotated[CustomerAnswers, Depends(from_state("answers", CustomerAnswers))]
CustomerServiceDep = Annotated[CustomerService, Depends(from_state("customers", CustomerService))]
BoardDep = Annotated[TaskBoard, Depends(from_state("board", TaskBoard))]
TriggerServiceDep = Annotated[TriggerService, Depends(from_state("triggers", TriggerService))]
ComplianceDep = Annotated[ComplianceService, Depends(from_state("compliance", ComplianceService))]
PolicyServiceDep = Annotated[PolicyService, Depends(from_state("policies", PolicyService))]
RequestServiceDep = Annotated[RequestService, Depends(from_state("requests", RequestService))]


class Unauthenticated(Exception):
    """No bearer token, or one that does not authenticate (the message says why)."""


def current_user(
    request: Request,
    db: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated(
            "a bearer token is required (create one with `closeout tokens create`)"
        )
    try:
        principal = check_token(db, credentials.credentials)
    except TokenRefused as refused:
        raise Unauthenticated(str(refused)) from refused
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets only the given roles through."""

    async def check(user: CurrentUser) -> Principal:
        if user.role not in roles:
            allowed = ", ".join(sorted(roles))
            raise Forbidden(f"role {user.role} may not do this (allowed: {allowed})")
        return user

    return check


# The role sets are closeout.access's; what each object allows is asked of it in the services.
AccountManager = Annotated[Principal, Depends(require(*CLOSURE_ROLES))]
Integrator = Annotated[Principal, Depends(require(*TRIGGER_ROLES))]
ComplianceOfficer = Annotated[Principal, Depends(require(*COMPLIANCE_ROLES))]
# Every person reads cases and customers (an account manager only their own); an
# integration's token raises triggers and reads nothing.
Reader = Annotated[Principal, Depends(require(*READER_ROLES))]
