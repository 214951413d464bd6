"""Typed dependencies: settings, database, services, and the calling user."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.compliance_service import ComplianceService
from api.customer_service import CustomerService
from api.errors import Forbidden
from api.policy_service import PolicyService
from api.service import CaseService
from api.task_board import TaskBoard
from api.trigger_service import TriggerService
from closeout.db import Database
from closeout.domain import Role
from closeout.settings import Settings
from closeout.tokens import Principal, authenticate

bearer = HTTPBearer(auto_error=False, description="A token from `closeout tokens create`")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_cases(request: Request) -> CaseService:
    service: CaseService = request.app.state.cases
    return service


def get_customers(request: Request) -> CustomerService:
    service: CustomerService = request.app.state.customers
    return service


def get_board(request: Request) -> TaskBoard:
    board: TaskBoard = request.app.state.board
    return board


def get_compliance(request: Request) -> ComplianceService:
    service: ComplianceService = request.app.state.compliance
    return service


def get_policies(request: Request) -> PolicyService:
    service: PolicyService = request.app.state.policies
    return service


def get_triggers(request: Request) -> TriggerService:
    service: TriggerService = request.app.state.triggers
    return service


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
CaseServiceDep = Annotated[CaseService, Depends(get_cases)]
CustomerServiceDep = Annotated[CustomerService, Depends(get_customers)]
BoardDep = Annotated[TaskBoard, Depends(get_board)]
TriggerServiceDep = Annotated[TriggerService, Depends(get_triggers)]
ComplianceDep = Annotated[ComplianceService, Depends(get_compliance)]
PolicyServiceDep = Annotated[PolicyService, Depends(get_policies)]


class Unauthenticated(Exception):
    """No or an unknown bearer token."""


def current_user(
    request: Request,
    db: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated(
            "a bearer token is required (create one with `closeout tokens create`)"
        )
    principal = authenticate(db, credentials.credentials)
    if principal is None:
        raise Unauthenticated("unknown or revoked token")
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


# Whoever manages customers: account managers, their managers, admins.
AccountManager = Annotated[
    Principal, Depends(require(Role.ACCOUNT_MANAGER, Role.MANAGER, Role.ADMIN))
]
Integrator = Annotated[Principal, Depends(require(Role.INTEGRATION, Role.ADMIN))]
ComplianceOfficer = Annotated[Principal, Depends(require(Role.COMPLIANCE_OFFICER, Role.ADMIN))]
