"""Signing in with the company's identity provider (OpenID Connect, code flow with PKCE):
`/login/oidc` sends the browser there, `/login/oidc/callback` takes it back."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.errors import NotFound
from api.web.auth import SIGN_OUT_HINT, home_of, local_path
from api.web.render import render
from api.web.session import AccountsDep, sign_in
from closeout.users.accounts import UserError
from closeout.users.oidc import OidcError, OidcProvider, Pending, role_from_groups

router = APIRouter(tags=["web"], include_in_schema=False)
PENDING = "oidc_pending"


def provider_of(request: Request) -> OidcProvider:
    found: OidcProvider | None = request.app.state.oidc
    if found is None:
        raise NotFound("no identity provider is configured (CLOSEOUT_OIDC_ISSUER)")
    return found


def _callback_url(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/login/oidc/callback"


def _refused(request: Request, reason: str) -> Response:
    request.session.pop(PENDING, None)
    return render(request, None, "login", 401, next="", oidc_failed=reason)


@router.get("/login/oidc")
def start(request: Request, next: str | None = None) -> Response:
    provider = provider_of(request)
    try:
        url, pending = provider.start(_callback_url(request), local_path(next) or "")
    except OidcError as exc:
        return _refused(request, str(exc))
    request.session[PENDING] = pending.as_dict()
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
    pending = Pending.from_dict(request.session.pop(PENDING, None))
    if error is not None:
        return _refused(request, f"the identity provider did not sign you in ({error[:60]})")
    if pending is None or state is None or code is None or state != pending.state:
        return _refused(request, "this sign-in was not started here, or has expired: try again")
    settings = request.app.state.settings
    try:
        identity = provider.finish(code, _callback_url(request), pending)
        role = role_from_groups(identity.groups, settings.oidc_role_map)
        user = accounts.from_provider(
            f"{provider.issuer} {identity.subject}",
            identity.email,
            identity.email_verified,
            identity.name,
            role,
        )
    except (OidcError, UserError) as exc:
        return _refused(request, str(exc))
    sign_in(request, user)
    request.session[SIGN_OUT_HINT] = identity.id_token  # the hint for signing out there too
    return RedirectResponse(pending.next_url or home_of(user.role), status_code=303)
