"""Signing in with the company's identity provider: a real OpenID Connect provider
(django-oidc-provider, tests/oidc_provider/) on a loopback port, Closeout's relying party
against it. An ID token counts only when the provider signed it, for Closeout, now, for this
sign-in; the role comes from a group; a person without one is refused and disabled."""

from __future__ import annotations

import base64
import html
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from pydantic import ValidationError
from sqlmodel import select

from closeout.audit.models import AuditEvent
from closeout.db import Database
from closeout.domain import Role
from closeout.users.accounts import Accounts, UserError
from closeout.users.models import UserRecord
from closeout.users.oidc import (
    LEEWAY,
    Identity,
    OidcError,
    OidcProvider,
    Pending,
    role_from_groups,
)
from tests.conftest import make_settings
from tests.oidc_provider.launch import CLIENT_ID, CLIENT_SECRET, Provider, oidc_provider
from tests.support import MailSink

REDIRECT = "http://127.0.0.1:9/login/oidc/callback"  # never reached: the code is read off
ROLE_MAP = {"closeout-compliance": Role.COMPLIANCE_OFFICER, "closeout-am": Role.ACCOUNT_MANAGER}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    users = ["kim:kim-password:kim@example.test:closeout-compliance,staff"]
    root = tmp_path_factory.mktemp("oidc")
    with oidc_provider(root, REDIRECT, "http://127.0.0.1:9/login", users) as found:
        yield found


@pytest.fixture
def relying_party(provider: Provider) -> Iterator[OidcProvider]:
    party = OidcProvider(provider.issuer, CLIENT_ID, CLIENT_SECRET, groups_claim="groups")
    yield party


def code_for(party: OidcProvider, username: str, password: str) -> tuple[str, Pending]:
    """What a browser does: to the provider, its sign-in form, back with a code."""
    url, pending = party.start(REDIRECT, "")
    with httpx.Client(follow_redirects=False, trust_env=False) as browser:
        login = urljoin(url, browser.get(url).headers["location"])
        form = browser.get(login).text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        after = re.search(r'name="next" value="([^"]*)"', form)
        assert csrf and after
        fields = {"csrfmiddlewaretoken": csrf[1], "next": html.unescape(after[1]),
                  "username": username, "password": password}  # fmt: skip
        signed = browser.post(login, data=fields)
        assert signed.status_code == 302, signed.text[:300]
        back = browser.get(urljoin(login, signed.headers["location"]))
    query = parse_qs(urlsplit(back.headers["location"]).query)
    assert query["state"] == [pending.state]
    return query["code"][0], pending


def sign_in_at(party: OidcProvider, username: str, password: str) -> Identity:
    """The browser's part, then what Closeout's callback does with the code."""
    code, pending = code_for(party, username, password)
    return party.finish(code, REDIRECT, pending)


def _claims(id_token: str) -> dict[str, object]:
    payload = id_token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_the_provider_signs_a_person_in_with_their_groups(relying_party: OidcProvider) -> None:
    identity = sign_in_at(relying_party, "kim", "kim-password")
    assert (identity.email, identity.email_verified) == ("kim@example.test", True)
    assert identity.groups == ("closeout-compliance", "staff")
    assert role_from_groups(identity.groups, ROLE_MAP) is Role.COMPLIANCE_OFFICER


def test_an_id_token_counts_only_signed_current_and_for_this_sign_in(
    relying_party: OidcProvider, provider: Provider
) -> None:
    identity = sign_in_at(relying_party, "kim", "kim-password")
    token, nonce = identity.id_token, str(_claims(identity.id_token)["nonce"])
    assert relying_party.identity(token, nonce).subject == identity.subject
    # Tampered: the groups claim changed, the signature kept.
    header, payload, signature = token.split(".")
    claims = _claims(token) | {"groups": ["closeout-admins"]}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(OidcError, match="BadSignatureError"):
        relying_party.identity(f"{header}.{forged}.{signature}", nonce)
    # Unsigned ("alg": "none") is never taken.
    bare = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    with pytest.raises(OidcError):
        relying_party.identity(f"{bare}.{payload}.", nonce)
    # Expired: judged a moment past its expiry and the tolerated clock difference.
    expires = int(str(_claims(token)["exp"]))
    with pytest.raises(OidcError, match="ExpiredTokenError"):
        relying_party.identity(token, nonce, now=expires + LEEWAY + 1)
    # Replayed into another sign-in (another nonce), or meant for another client.
    with pytest.raises(OidcError, match="InvalidClaimError"):
        relying_party.identity(token, "another-sign-in")
    other = OidcProvider(provider.issuer, "another-client", "x")
    with pytest.raises(OidcError, match="InvalidClaimError"):
        other.identity(token, nonce)


def test_a_code_is_exchanged_once_and_only_with_its_verifier(relying_party: OidcProvider) -> None:
    code, pending = code_for(relying_party, "kim", "kim-password")
    stolen = Pending(pending.state, pending.nonce, "x" * 64, "")  # the code without its verifier
    with pytest.raises(OidcError, match="refused the code"):
        relying_party.finish(code, REDIRECT, stolen)
    code, pending = code_for(relying_party, "kim", "kim-password")
    assert relying_party.finish(code, REDIRECT, pending).email == "kim@example.test"
    with pytest.raises(OidcError, match="refused the code"):  # used already
        relying_party.finish(code, REDIRECT, pending)


def test_a_token_without_the_groups_claim_says_nothing_of_groups(provider: Provider) -> None:
    """A provider not sending the claim (a scope not asked for) is not "no group": the
    callback refuses the sign-in without disabling anyone."""
    party = OidcProvider(provider.issuer, CLIENT_ID, CLIENT_SECRET, groups_claim="teams")
    assert sign_in_at(party, "kim", "kim-password").groups is None


def test_a_provider_that_is_down_is_asked_again_only_after_a_while() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    party = OidcProvider(f"http://127.0.0.1:{port}", CLIENT_ID, CLIENT_SECRET, timeout=2)
    with pytest.raises(OidcError, match="cannot be reached \\(ConnectError\\)"):
        party.start(REDIRECT, "")
    with pytest.raises(OidcError, match="try again shortly"):
        party.start(REDIRECT, "")


def test_roles_come_from_the_first_mapped_group() -> None:
    assert role_from_groups(["staff", "closeout-am"], ROLE_MAP) is Role.ACCOUNT_MANAGER
    both = ["closeout-am", "closeout-compliance"]
    assert role_from_groups(both, ROLE_MAP) is Role.COMPLIANCE_OFFICER  # the map's order
    assert role_from_groups(["staff"], ROLE_MAP) is None


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"oidc_issuer": "http://idp.example.com"}, "must use https"),
        ({"oidc_client_id": None}, "CLOSEOUT_OIDC_CLIENT_ID"),
        ({"oidc_client_secret": None}, "CLOSEOUT_OIDC_CLIENT_SECRET"),
        ({"oidc_role_map": {}}, "CLOSEOUT_OIDC_ROLE_MAP must map"),
        ({"oidc_role_map": {"bots": "integration"}}, "not roles people sign in with"),
    ],
)
def test_a_wrong_oidc_configuration_is_refused(
    tmp_path: Path, sqlite_url: str, mail: MailSink, values: dict[str, object], says: str
) -> None:
    good: dict[str, object] = {
        "oidc_issuer": "https://idp.example.com", "oidc_client_id": "closeout",
        "oidc_client_secret": "a-secret", "oidc_role_map": {"closeout-am": "account_manager"},
    }  # fmt: skip
    make_settings(tmp_path, sqlite_url, mail, **good)
    with pytest.raises(ValidationError, match=says) as refused:
        make_settings(tmp_path, sqlite_url, mail, **(good | values))
    assert "a-secret" not in str(refused.value)


def test_users_are_made_linked_re_roled_and_disabled_by_the_provider(database_url: str) -> None:
    db = Database.from_url(database_url)
    accounts = Accounts(db)
    sub = "https://idp.example.com 42"
    made = accounts.from_provider(sub, "Ana@Example.com", True, "Ana", Role.ACCOUNT_MANAGER)
    assert (made.email, made.role) == ("ana@example.com", Role.ACCOUNT_MANAGER)
    assert accounts.authenticate("ana@example.com", "") is None  # no password works here
    again = accounts.from_provider(sub, "ana@example.com", True, "Ana", Role.MANAGER)
    assert again.id == made.id and again.role is Role.MANAGER
    # The provider gives her no role any more: refused, and disabled here.
    with pytest.raises(UserError, match="no role in Closeout"):
        accounts.from_provider(sub, "ana@example.com", True, "Ana", None)
    assert accounts.get(made.id) is None
    with pytest.raises(UserError, match="disabled"):
        accounts.from_provider(sub, "ana@example.com", True, "Ana", Role.MANAGER)
    # Nobody is made, nor linked, under an address the provider did not verify.
    with pytest.raises(UserError, match="not verified"):
        accounts.from_provider("https://idp.example.com 5", "new@example.com", False, "N",
                               Role.ACCOUNT_MANAGER)  # fmt: skip
    accounts.add("li.na@example.com", Role.ACCOUNT_MANAGER, "a-long-password")
    other = "https://idp.example.com 7"
    with pytest.raises(UserError, match="not verified"):
        accounts.from_provider(other, "li.na@example.com", False, "Li", Role.ACCOUNT_MANAGER)
    assert accounts.authenticate("li.na@example.com", "a-long-password") is not None
    linked = accounts.from_provider(other, "li.na@example.com", True, "Li", Role.ACCOUNT_MANAGER)
    assert linked.email == "li.na@example.com"
    # Linked, she signs in at the provider only: her old password no longer works here.
    assert accounts.authenticate("li.na@example.com", "a-long-password") is None
    # An administrator's account stays the break-glass sign-in: never linked, never disabled.
    accounts.add("root@example.com", Role.ADMIN, "a-long-admin-password")
    with pytest.raises(UserError, match="never linked"):
        accounts.from_provider("https://idp.example.com 9", "root@example.com", True, "R", None)
    assert accounts.authenticate("root@example.com", "a-long-admin-password") is not None
    with pytest.raises(UserError, match="another identity"):
        accounts.from_provider(
            "https://idp.example.com 8", "li.na@example.com", True, "X", Role.MANAGER
        )
    with db.session() as session:
        actions = [e.action for e in session.exec(select(AuditEvent)).all()]
        row = session.exec(select(UserRecord).where(UserRecord.email == "ana@example.com")).one()
    assert row.oidc_subject == sub
    assert {"user_created", "user_role_changed", "user_disabled", "user_linked"} <= set(actions)
    db.engine.dispose()
