"""Signed-cookie sessions, CSRF tokens and role checks for the web pages."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request

from api.errors import Forbidden
from closeout.domain import Role
from closeout.tokens import Principal
from closeout.users.accounts import Accounts, User

SESSION_USER = "uid"
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """No signed-in user: the page sends the browser to the sign-in form."""

    def __init__(self, next_url: str) -> None:
        super().__init__("sign in first")
        self.next_url = next_url


class CsrfRefused(Forbidden):
    """A form came without this session's CSRF token."""


def get_accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


async def check_csrf(request: Request) -> None:
    """Every form POST carries the session's token; anything else is refused (403)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(SESSION_CSRF)
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and secrets.compare_digest(sent, expected)
    ):
        raise CsrfRefused(
            "this form was not sent from a Closeout page or has expired: reload it and try again"
        )


CsrfChecked = Depends(check_csrf)


def sign_in(request: Request, user: User) -> None:
    """A fresh session for the user: nothing from before sign-in carries over."""
    request.session.clear()
    request.session[SESSION_USER] = user.id
    csrf_token(request)


def signed_in(request: Request, accounts: AccountsDep) -> User:
    user_id = request.session.get(SESSION_USER)
    user = accounts.get(user_id) if isinstance(user_id, str) else None
    request.state.web = True
    if user is None:
        request.session.pop(SESSION_USER, None)
        raise SignInRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
    request.state.user = user
    request.state.principal = Principal(user.email, user.role)
    return user


WebUser = Annotated[User, Depends(signed_in)]


def page_for(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    """A page only these roles may open; anyone else gets 403 (and an audit event)."""

    async def check(user: WebUser) -> User:
        if user.role not in roles:
            allowed = ", ".join(sorted(roles))
            raise Forbidden(f"role {user.role} may not open this page (allowed: {allowed})")
        return user

    return check


Staff = Annotated[User, Depends(page_for(Role.ACCOUNT_MANAGER, Role.MANAGER, Role.ADMIN))]
Anyone = Annotated[
    User,
    Depends(page_for(Role.ACCOUNT_MANAGER, Role.MANAGER, Role.COMPLIANCE_OFFICER, Role.ADMIN)),
]
Compliance = Annotated[User, Depends(page_for(Role.COMPLIANCE_OFFICER, Role.ADMIN))]


def principal(user: User) -> Principal:
    return Principal(user.email, user.role)
