"""The contract every access provider passes (closeout/connectors/access.py), run against each:
the reference CRM in its database and a real SCIM 2.0 service.

Revoke leaves nothing that lets the customer in, and restore gives back what it took; every
step is idempotent; an unknown customer is a typed error; access given back behind Closeout's
back is seen. Adapters that speak to a service over the network also turn a refused
credential, a timeout, a rate limit and a failing service into typed errors (the reference CRM
lives in Closeout's own database: it has no credential, and its timeouts are the database's).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import select

from closeout.connectors.access import AccessProvider, CrmAccess
from closeout.connectors.errors import (
    RETRY_AFTER_MOST,
    ConnectorTimeout,
    ConnectorUnavailable,
    CredentialRefused,
    RateLimited,
    UnknownCustomer,
    retry_after_seconds,
)
from closeout.connectors.scim import ScimAccess
from closeout.crm.adapters import crm_from
from closeout.crm.models import CrmPortalUser
from closeout.db import Database
from closeout.demo import add_customer
from closeout.settings import Settings
from tests.scim_service import SCIM_TOKEN, ScimDirectory


@dataclass
class AccessSystem:
    """A provider, and the hands of the system's own administrators around it."""

    provider: AccessProvider
    # A new customer with access there.
    seed: Callable[[], str]
    # Access given back to a revoked customer outside Closeout.
    reopen: Callable[[str], None]


@pytest.fixture
def crm_system(settings: Settings, db: Database) -> AccessSystem:
    crm = crm_from(settings, db)

    def seed() -> str:
        customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        with db.session() as session:
            add_customer(session, customer_id, name="Acme Trading", owner="li.na@example.com")
        return customer_id

    def reopen(customer_id: str) -> None:
        with db.session() as session:
            user = session.exec(
                select(CrmPortalUser).where(CrmPortalUser.customer_id == customer_id)
            ).first()
            assert user is not None
            user.enabled = True
            session.add(user)

    return AccessSystem(CrmAccess(crm), seed, reopen)


@pytest.fixture
def scim_system(scim_url: str, scim_directory: ScimDirectory) -> Iterator[AccessSystem]:
    provider = ScimAccess("idp", scim_url, SCIM_TOKEN, timeout=5)
    users: dict[str, list[str]] = {}

    def seed() -> str:
        customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        # Three users, one of them already inactive before the case.
        users[customer_id] = scim_directory.organisation(customer_id, users=3, inactive=1)
        return customer_id

    def reopen(customer_id: str) -> None:
        scim_directory.set_active(users[customer_id][-1], True)

    yield AccessSystem(provider, seed, reopen)
    provider.close()


@pytest.fixture(params=["crm", "scim"])
def system(request: pytest.FixtureRequest) -> AccessSystem:
    found: AccessSystem = request.getfixturevalue(f"{request.param}_system")
    return found


def test_revoke_leaves_nothing_and_restore_gives_back(system: AccessSystem) -> None:
    customer_id = system.seed()
    before = system.provider.grants(customer_id)
    assert sum(before.values()) > 0
    taken = system.provider.revoke(customer_id)
    assert sum(taken.values()) > 0
    assert set(system.provider.grants(customer_id).values()) == {0}
    given = system.provider.restore(customer_id)
    assert sum(given.values()) > 0
    assert sum(system.provider.grants(customer_id).values()) > 0


def test_every_step_is_idempotent(system: AccessSystem) -> None:
    customer_id = system.seed()
    system.provider.revoke(customer_id)
    assert set(system.provider.revoke(customer_id).values()) == {0}
    assert set(system.provider.grants(customer_id).values()) == {0}
    system.provider.restore(customer_id)
    assert set(system.provider.restore(customer_id).values()) == {0}


def test_access_given_back_outside_closeout_is_seen(system: AccessSystem) -> None:
    customer_id = system.seed()
    system.provider.revoke(customer_id)
    system.reopen(customer_id)
    assert sum(system.provider.grants(customer_id).values()) == 1


def test_an_unknown_customer_is_a_typed_error(system: AccessSystem) -> None:
    for step in (system.provider.grants, system.provider.revoke, system.provider.restore):
        with pytest.raises(UnknownCustomer) as refused:
            step("nobody-" + uuid.uuid4().hex[:8])
        assert refused.value.system == system.provider.name


def test_revocation_leaves_users_inactive_before_it_alone(
    scim_system: AccessSystem, scim_directory: ScimDirectory, scim_url: str
) -> None:
    """The SCIM provider deactivates the active members only, and a customer id with quotes
    in it is matched exactly, not as filter syntax."""
    customer_id = scim_system.seed()
    assert scim_system.provider.revoke(customer_id) == {"users_deactivated": 2}
    assert scim_system.provider.grants(customer_id) == {"active_users": 0}
    odd = 'cust "x" or 1'
    scim_directory.organisation(odd, users=1)
    assert scim_system.provider.grants(odd) == {"active_users": 1}


def test_a_refused_credential_is_a_typed_error(scim_url: str) -> None:
    provider = ScimAccess("idp", scim_url, "not-the-token", timeout=5)
    with pytest.raises(CredentialRefused, match="idp: the credential was refused"):
        provider.grants("cust-1")
    provider.close()


def test_a_service_that_never_answers_times_out(silent_url: str) -> None:
    provider = ScimAccess("idp", silent_url, SCIM_TOKEN, timeout=0.5)
    with pytest.raises(ConnectorTimeout):
        provider.revoke("cust-1")
    provider.close()


@pytest.mark.parametrize(("retry_after", "seconds"), [("7", 7.0), (None, None), ("soon", None)])
def test_a_rate_limit_carries_the_services_retry_after(
    answering: Callable[..., str], retry_after: str | None, seconds: float | None
) -> None:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    provider = ScimAccess("idp", answering(429, headers), SCIM_TOKEN, timeout=5)
    with pytest.raises(RateLimited) as limited:
        provider.revoke("cust-1")
    assert limited.value.retry_after == seconds
    provider.close()


def test_a_failing_or_unreachable_service_is_unavailable(answering: Callable[..., str]) -> None:
    provider = ScimAccess("idp", answering(503), SCIM_TOKEN, timeout=5)
    with pytest.raises(ConnectorUnavailable, match="failed \\(503\\)"):
        provider.restore("cust-1")
    provider.close()
    closed = ScimAccess("idp", "http://127.0.0.1:9/", SCIM_TOKEN, timeout=5)
    with pytest.raises(ConnectorUnavailable, match="unreachable"):
        closed.grants("cust-1")
    closed.close()


def test_a_member_the_service_no_longer_holds_is_left_out(
    scim_system: AccessSystem, scim_directory: ScimDirectory
) -> None:
    customer_id = scim_system.seed()
    gone = scim_directory.members(customer_id)[1]
    scim_directory.delete_user(gone)
    assert gone in scim_directory.members(customer_id)  # still listed by its group
    assert scim_system.provider.revoke(customer_id) == {"users_deactivated": 1}
    assert scim_system.provider.grants(customer_id) == {"active_users": 0}


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), ("86400", RETRY_AFTER_MOST), ("²", None), ("-3", None), ("", None)],
)
def test_a_retry_after_is_read_as_the_rfc_says_and_bounded(
    header: str, seconds: float | None
) -> None:
    assert retry_after_seconds(header) == seconds
    later = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 100 < (retry_after_seconds(later) or 0) <= 120


@pytest.mark.parametrize(
    ("entry", "fault"),
    [
        ({"url": "http://idp.example.com/scim", "token": "t"}, "must use https"),
        ({"url": "https://idp.example.com/scim"}, "one of token or token_file"),
        ({"url": "https://idp.example.com/scim", "token": "t", "token_file": "/x"}, "one of"),
        ({"url": "https://idp.example.com/scim", "token": "t", "group_attribute": "a.b"}, ""),
        ({"url": "https://idp.example.com/scim", "tokn": "S3CRET-TOKEN"}, "Extra inputs"),
    ],
)
def test_a_wrong_connector_is_refused_without_echoing_its_values(
    entry: dict[str, str], fault: str
) -> None:
    connectors = json.dumps([{"kind": "scim", "name": "idp", **entry}])
    with pytest.raises(ValidationError) as refused:
        Settings(connectors=connectors)
    assert fault in str(refused.value)
    assert "S3CRET" not in str(refused.value) and "'t'" not in str(refused.value)
