"""Signing in and out, and the page language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.errors import Invalid
from api.refusals import audit_sign_in_throttled
from api.sign_in_limits import SignInLimits, Throttled
from api.web.render import render
from api.web.session import AccountsDep, CsrfChecked, WebUser, sign_in, sign_out
from closeout.domain import Role

router = APIRouter(tags=["web"], include_in_schema=False)
LANGUAGES = {"en": "English", "zh-CN": "简体中文"}


def local_path(next_url: str | None) -> str | None:
    """Only paths on this site: never an open redirect."""
    if next_url and next_url.startswith("/") and not next_url.startswith("//"):
        return next_url
    return None


def home_of(role: Role) -> str:
    return "/compliance" if role is Role.COMPLIANCE_OFFICER else "/inbox"


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, None, "login", next=local_path(next) or "")


def _throttled(request: Request, email: str, next_url: str, throttled: Throttled) -> Response:
    """The "too many attempts, try again in N minutes" page: 429 with Retry-After."""
    if throttled.audit:
        audit_sign_in_throttled(request, email, throttled)
    response = render(
        request, None, "login", 429, next=next_url, email=email,
        throttled_minutes=throttled.minutes,
    )  # fmt: skip
    response.headers["Retry-After"] = str(throttled.retry_after_seconds)
    return response


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    accounts: AccountsDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    limits: SignInLimits = request.app.state.sign_in_limits
    throttled = limits.attempt(email, request.client.host if request.client else "unknown")
    if throttled is not None:  # refused before any password hash is computed
        return _throttled(request, email, local_path(next) or "", throttled)
    user = accounts.authenticate(email, password)
    if user is None:
        return render(
            request, None, "login", 401, next=local_path(next) or "", email=email, failed=True
        )
    limits.signed_in(email)
    sign_in(request, user)
    return RedirectResponse(local_path(next) or home_of(user.role), status_code=303)


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    """Signed out here; someone who came through the identity provider is signed out there
    too (its end-session page, which sends them back to the sign-in form)."""
    id_token = sign_out(request)
    provider = request.app.state.oidc
    if provider is not None and id_token is not None:
        back = f"{request.app.state.settings.base_url}/login"
        there = provider.end_session_url(id_token, back)
        if there is not None:
            return RedirectResponse(there, status_code=303)
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home(user: WebUser) -> Response:
    return RedirectResponse(home_of(user.role), status_code=303)


@router.post("/preferences/language", dependencies=[CsrfChecked])
def set_language(
    user: WebUser,
    accounts: AccountsDep,
    language: Annotated[str, Form()],
    back: Annotated[str | None, Form()] = None,
) -> Response:
    if language not in LANGUAGES:
        raise Invalid(f"unknown language {language!r} (known: {', '.join(LANGUAGES)})")
    accounts.set_locale(user.id, language)
    return RedirectResponse(local_path(back) or home_of(user.role), status_code=303)
