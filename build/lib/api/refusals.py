"""Refused requests leave an audit event: who tried what they may not do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import Request

from api.errors import DomainError
from api.sign_in_limits import Throttled
from closeout.cases.repository import CaseRepository
from closeout.contracts import AuditEntry
from closeout.tokens import Principal


def audit_refusal(request: Request, exc: DomainError) -> None:
    """An `access_denied` event with the caller's name and role, the method and the path."""
    who: Principal | None = getattr(request.state, "principal", None)
    repo: CaseRepository = request.app.state.cases.repo
    case_id = request.path_params.get("case_id")
    repo.append_audit(
        case_id if isinstance(case_id, str) and repo.get_case(case_id) else None,
        AuditEntry(
            event_id=str(uuid.uuid4()),
            actor=who.name if who else "anonymous",
            action="access_denied",
            at=datetime.now(UTC),
            reason=exc.message,
            details={
                "role": str(who.role) if who else None,
                "method": request.method,
                "path": request.url.path,
            },
        ),
    )


def audit_sign_in_throttled(request: Request, email: str, throttled: Throttled) -> None:
    """A `sign_in_throttled` event: which account or address hit its limit (no password)."""
    repo: CaseRepository = request.app.state.cases.repo
    repo.append_audit(
        None,
        AuditEntry(
            event_id=str(uuid.uuid4()),
            actor="anonymous",
            action="sign_in_throttled",
            at=datetime.now(UTC),
            reason=f"too many sign-in attempts for this {throttled.scope}",
            details={
                "limit": str(throttled.scope),
                "email": email.strip().lower()[:320],
                "address": request.client.host if request.client else None,
                "retry_after_seconds": throttled.retry_after_seconds,
            },
        ),
    )
