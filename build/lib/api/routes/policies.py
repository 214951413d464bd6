"""Retention policies: what a changed configuration would move, then applying it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api import schemas
from api.deps import ComplianceOfficer, PolicyServiceDep
from api.policy_service import PolicyApplied, PolicyChanges

router = APIRouter(prefix="/api/policies", tags=["policies"])
PolicyName = Annotated[str, Path(description="a configured policy's name", examples=["standard"])]


@router.get("/{name}/changes")
async def policy_changes(
    name: PolicyName, _user: ComplianceOfficer, policies: PolicyServiceDep
) -> PolicyChanges:
    """Dry run: the open cases under the policy that its configured periods would move."""
    return await policies.changes(name)


@router.post("/{name}/apply")
async def apply_policy(
    name: PolicyName, body: schemas.ReasonIn, user: ComplianceOfficer, policies: PolicyServiceDep
) -> PolicyApplied:
    """Apply the configured periods to every open case the dry run says would move."""
    return await policies.apply(name, body.reason, user)
