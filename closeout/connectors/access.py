"""Access providers: the systems that let a customer in (portal logins, API keys, an identity
provider's users), each asked to list, revoke and restore what a customer holds there.

A case revokes, verifies and restores on every configured provider. The reference CRM is always
one (its portal users, API keys and subscriptions); others come from `CLOSEOUT_CONNECTORS`. A
count of what still lets the customer in, by kind, must be zero everywhere after revocation; a
provider that cannot answer fails the verification instead of passing it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
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


# How long a provider's health stands before /healthz asks it again: a public endpoint must
# not multiply calls to the company's systems (and spend the rate limit revocations share).
STATE_TTL = 60.0
_STATES: dict[int, tuple[float, str]] = {}
_STATES_LOCK = threading.Lock()


class Checked(Protocol):
    """A connected system that can say whether it is reachable and whole."""

    name: str

    def check(self) -> list[str]: ...


def connector_state(provider: Checked) -> str:
    """ "ok" or "error" for a public health report, asked at most once a STATE_TTL per
    provider; `closeout connectors check` says why."""
    now = time.monotonic()
    with _STATES_LOCK:
        known = _STATES.get(id(provider))
    if known is not None and now - known[0] < STATE_TTL:
        return known[1]
    try:
        state = "ok" if not provider.check() else "error"
    except ConnectorError:
        state = "error"
    with _STATES_LOCK:
        _STATES[id(provider)] = (now, state)
    return state


def _named(provider: AccessProvider, counts: dict[str, int]) -> dict[str, int]:
    if provider.name == CRM_ACCESS:
        return dict(counts)
    return {f"{provider.name}.{what}": n for what, n in counts.items()}


def _everywhere(
    providers: Sequence[AccessProvider], step: Callable[[AccessProvider], dict[str, int]]
) -> dict[str, int]:
    """Run one step on every provider; the counts of all, each named after its provider. A
    customer a provider other than the CRM does not know holds nothing there
    (`<provider>.unknown` 1); one the CRM does not know is an error (it is the source then)."""
    counts: dict[str, int] = {}
    for provider in providers:
        try:
            counts |= _named(provider, step(provider))
        except UnknownCustomer:
            if provider.name == CRM_ACCESS:
                raise
            counts[f"{provider.name}.unknown"] = 1
    return counts


def revoke_everywhere(providers: Sequence[AccessProvider], customer_id: str) -> dict[str, int]:
    """Revoke on every provider: how many of each kind each took."""
    return _everywhere(providers, lambda provider: provider.revoke(customer_id))


def grants_left(providers: Sequence[AccessProvider], customer_id: str) -> dict[str, int]:
    """What still lets the customer in on any provider (only the kinds above zero): empty when
    every provider confirmed that nothing does. A provider that cannot answer raises."""
    counts = _everywhere(providers, lambda provider: provider.grants(customer_id))
    return {what: n for what, n in counts.items() if n and not what.endswith(".unknown")}


def restore_everywhere(providers: Sequence[AccessProvider], customer_id: str) -> dict[str, int]:
    """Give back on every provider what the revocation took: how many of each kind."""
    return _everywhere(providers, lambda provider: provider.restore(customer_id))
