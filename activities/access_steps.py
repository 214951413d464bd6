"""The access steps of a case: revoke everything that lets the customer in, on the CRM and on
every connected identity provider, and verify that nothing does any more."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.outcomes import connector_failure, with_details
from closeout.cases.repository import CaseRepository
from closeout.connectors.access import AccessProvider, grants_left, revoke_everywhere
from closeout.connectors.errors import ConnectorError
from closeout.contracts import CustomerStep


class AccessSteps:
    """Part of `CloseoutActivities`: what lets customers in (`access`), and the read model."""

    access: list[AccessProvider]
    cases: CaseRepository

    @activity.defn
    def revoke_access(self, step: CustomerStep) -> dict[str, int]:
        """Disable portal users and sessions, revoke API keys, stop recurring billing, and
        deactivate the customer's users in every connected identity provider."""
        try:
            revoked = revoke_everywhere(self.access, step.customer_id)
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
        self.cases.append_audit(step.case_id, with_details(step.audit, **revoked))
        return revoked

    @activity.defn
    def verify_access_revoked(self, step: CustomerStep) -> None:
        """Every access provider confirms that nothing lets the customer in any more; one that
        cannot answer fails the verification (retried), never passes it."""
        try:
            left = grants_left(self.access, step.customer_id)
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
        if left:
            raise ApplicationError(f"access still granted: {left}", type="AccessStillGranted")
        self.cases.append_audit(step.case_id, step.audit)
