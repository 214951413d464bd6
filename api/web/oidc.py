"""Signing in with the company's identity provider (OpenID Connect, code flow with PKCE):
`/login/oidc` sends the browser there, `/login/oidc/callback` takes it back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.errors import NotFound
from api.web.auth import home_of, local_path
from api.web.render import render
from api.web.session import AccountsDep, sign_in
from closeout.users.accounts import UserError
from closeout.users.oidc import OidcError, OidcProvider, Pending, role_from_groups

router = APIRouter(tags=["web"], include_in_schema=False)
# The sign-ins started in this browser and not yet back, by their state: a second tab does
# not spoil the first. The newest few only.
PENDING = "oidc_pending"
PENDING_MOST = 4


def provider_of(request: Request) -> OidcProvider:
    found: OidcProvider | None = request.app.state.oidc
    if found is None:
        raise NotFound("no identity provider is configured (CLOSEOUT_OIDC_ISSUER)")
    return found


def _callback_url(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/login/oidc/callback"


def _pending(request: Request) -> dict[str, Any]:
    found = request.session.get(PENDING)
    return dict(found) if isinstance(found, dict) else {}


def _refused(request: Request, reason: str) -> Response:
    return render(request, None, "login", 401, next="", oidc_failed=reason)


@router.get("/login/oidc")
def start(request: Request, next: str | None = None) -> Response:
    provider = provider_of(request)
    try:
        url, pending = provider.start(_callback_url(request), local_path(next) or "")
    except OidcError as exc:
        return _refused(request, str(exc))
    started = _pending(request)
    started[pending.state] = pending.as_dict()
    request.session[PENDING] = dict(list(started.items())[-PENDING_MOST:])
    return RedirectResponse(url, status_code=303)


@router.get("/login/oidc/callback")
def callback(
    request: Request,
    accounts: AccountsDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    provider = provider_of(request)
    started = _pending(request)
    # The state first: an answer to no sign-in started here changes nothing, not even
    # the sign-ins still under way.
    pending = Pending.from_dict(started.pop(state, None)) if state else None
    if pending is None:
        return _refused(request, "this sign-in was not started here, or has expired: try again")
    request.session[PENDING] = started
    if error is not None or code is None:
        return _refused(request, "the identity provider did not sign you in")
    settings = request.app.state.settings
    try:
        identity = provider.finish(code, _callback_url(request), pending)
        if identity.groups is None:  # not "no group": the provider did not say
            raise OidcError(
                f"the ID token carries no {provider.groups_claim!r} claim: the provider must "
                "send the person's groups (a scope or a claim mapping there)"
            )
        user = accounts.from_provider(
            f"{provider.issuer} {identity.subject}",
            identity.email,
            identity.email_verified,
            identity.name,
            role_from_groups(identity.groups, settings.oidc_role_map),
        )
    except (OidcError, UserError) as exc:
        return _refused(request, str(exc))
    sign_in(request, user, sign_out_hint=identity.id_token)
    return RedirectResponse(pending.next_url or home_of(user.role), status_code=303)
