"""Access providers: the systems that let a customer in (portal logins, API keys, an identity
provider's users), each asked to list, revoke and restore what a customer holds there.

A case revokes, verifies and restores on every configured provider. The reference CRM is always
one (its portal users, API keys and subscriptions); others come from `CLOSEOUT_CONNECTORS`. A
count of what still lets the customer in, by kind, must be zero everywhere after revocation; a
provider that cannot answer fails the verification instead of passing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from closeout.connectors.errors import ConnectorError, UnknownCustomer
from closeout.crm.port import CrmPort, CustomerNotFound

# The reference CRM's counts keep their plain names (as the audit trail has always had them);
# another provider's are named after it: "<provider>.<what>".
CRM_ACCESS = "crm"


class AccessProvider(Protocol):
    """A system that lets customers in. Every method is idempotent; each raises
    `closeout.connectors.errors.ConnectorError` (`UnknownCustomer` for a customer it does not
    know) when it cannot answer."""

    name: str

    def check(self) -> list[str]:
        """Reach the system with Closeout's credential and say what it cannot do of what a
        case needs (nothing: all of it). Raises when it cannot be reached or refuses."""
        ...

    def grants(self, customer_id: str) -> dict[str, int]:
        """What still lets the customer in, by kind: all zeros once revoked."""
        ...

    def revoke(self, customer_id: str) -> dict[str, int]:
        """Take the customer's access away; how many of each kind were taken."""
        ...

    def restore(self, customer_id: str) -> dict[str, int]:
        """Give back what a revocation took (a returning customer); how many of each kind."""
        ...


class CrmAccess:
    """The reference CRM's portal users, sessions, API keys and subscriptions."""

    name = CRM_ACCESS

    def __init__(self, crm: CrmPort) -> None:
        self.crm = crm

    def check(self) -> list[str]:
        return []  # tables in Closeout's own database: /healthz checks the database

    def grants(self, customer_id: str) -> dict[str, int]:
        if self.crm.get_profile(customer_id) is None:
            raise UnknownCustomer(self.name, customer_id)
        grants = self.crm.access_grants(customer_id)
        return {
            "enabled_portal_users": grants.enabled_portal_users,
            "active_sessions": grants.active_sessions,
            "active_api_keys": grants.active_api_keys,
            "active_subscriptions": grants.active_subscriptions,
        }

    def revoke(self, customer_id: str) -> dict[str, int]:
        try:
            return self.crm.revoke_access(customer_id)
        except CustomerNotFound as exc:
            raise UnknownCustomer(self.name, customer_id) from exc

    def restore(self, customer_id: str) -> dict[str, int]:
        try:
            return self.crm.regrant_access(customer_id)
        except CustomerNotFound as exc:
            raise UnknownCustomer(self.name, customer_id) from exc


def connector_state(provider: AccessProvider) -> str:
    """ "ok", "missing: …" or "error: …" for a health report (never a credential)."""
    try:
        missing = provider.check()
    except ConnectorError as exc:
        return f"error: {type(exc).__name__}"
    return "ok" if not missing else "missing: " + ", ".join(missing)


def _named(provider: AccessProvider, counts: dict[str, int]) -> dict[str, int]:
    if provider.name == CRM_ACCESS:
        return dict(counts)
    return {f"{provider.name}.{what}": n for what, n in counts.items()}


def revoke_everywhere(providers: Sequence[AccessProvider], customer_id: str) -> dict[str, int]:
    """Revoke on every provider; the counts of all, each named after its provider. A customer
    a provider other than the CRM does not know holds nothing there (`<provider>.unknown` 1);
    one the CRM does not know is an error (`UnknownCustomer`)."""
    taken: dict[str, int] = {}
    for provider in providers:
        try:
            taken |= _named(provider, provider.revoke(customer_id))
        except UnknownCustomer:
            if provider.name == CRM_ACCESS:
                raise
            taken[f"{provider.name}.unknown"] = 1
    return taken


def grants_left(providers: Sequence[AccessProvider], customer_id: str) -> dict[str, int]:
    """What still lets the customer in on any provider (only the kinds above zero): empty when
    every provider confirmed that nothing does. A provider that cannot answer raises."""
    left: dict[str, int] = {}
    for provider in providers:
        try:
            counts = provider.grants(customer_id)
        except UnknownCustomer:
            if provider.name == CRM_ACCESS:
                raise
            continue  # it holds nothing of them
        left |= {what: n for what, n in _named(provider, counts).items() if n}
    return left


def restore_everywhere(providers: Sequence[AccessProvider], customer_id: str) -> dict[str, int]:
    """Give back on every provider what the revocation took; the counts of all."""
    given: dict[str, int] = {}
    for provider in providers:
        try:
            given |= _named(provider, provider.restore(customer_id))
        except UnknownCustomer:
            if provider.name == CRM_ACCESS:
                raise
    return given
