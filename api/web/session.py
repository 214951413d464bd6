"""Sessions, CSRF tokens and role checks for the web pages.

The (signed) cookie holds a server-side session's id once someone signed in, and only a
CSRF token before: who is signed in, and until when, is decided by the session's row.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request

from api.errors import Forbidden
from closeout.access import (
    CLOSURE_ROLES,
    COMPLIANCE_ROLES,
    HISTORY_READERS,
    READER_ROLES,
    SUPERVISORS,
)
from closeout.domain import Role
from closeout.tokens import Principal
from closeout.users.accounts import Accounts, User, user_from
from closeout.users.sessions import WebSessions

SESSION_ID = "sid"
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


def get_web_sessions(request: Request) -> WebSessions:
    sessions: WebSessions = request.app.state.web_sessions
    return sessions


WebSessionsDep = Annotated[WebSessions, Depends(get_web_sessions)]


def _session_id(request: Request) -> str | None:
    found = request.session.get(SESSION_ID)
    return found if isinstance(found, str) else None


def _expected_csrf(request: Request) -> str | None:
    session_id = _session_id(request)
    if session_id is not None:
        return get_web_sessions(request).csrf_token(session_id)
    token = request.session.get(SESSION_CSRF)
    return token if isinstance(token, str) else None


def csrf_token(request: Request) -> str:
    """This session's CSRF token (before sign-in: one kept in the cookie, made on first use)."""
    token = _expected_csrf(request)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


async def check_csrf(request: Request) -> None:
    """Every form POST carries the session's token; anything else is refused (403)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = _expected_csrf(request)
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and secrets.compare_digest(sent, expected)
    ):
        raise CsrfRefused(
            "this form was not sent from a Closeout page or has expired: reload it and try again"
        )


CsrfChecked = Depends(check_csrf)


def sign_in(request: Request, user: User, sign_out_hint: str | None = None) -> None:
    """A fresh session for the user: nothing from before sign-in carries over."""
    request.session.clear()
    request.session[SESSION_ID] = get_web_sessions(request).start(
        user.id, sign_out_hint=sign_out_hint
    )


def sign_out(request: Request) -> str | None:
    """End the session on the server too: a copy of the cookie is worth nothing after. The
    identity provider's sign-out hint the session held, if any."""
    session_id = _session_id(request)
    hint = get_web_sessions(request).end(session_id) if session_id is not None else None
    request.session.clear()
    return hint


def signed_in(request: Request, sessions: WebSessionsDep) -> User:
    session_id = _session_id(request)
    found = sessions.signed_in(session_id) if session_id is not None else None
    user = user_from(found) if found is not None else None
    request.state.web = True
    if user is None:
        request.session.clear()
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


# The pages ask closeout/access.py who may open them, as the JSON API and the workflow do.
Staff = Annotated[User, Depends(page_for(*CLOSURE_ROLES))]
Anyone = Annotated[User, Depends(page_for(*READER_ROLES))]
Compliance = Annotated[User, Depends(page_for(*COMPLIANCE_ROLES))]
Managers = Annotated[User, Depends(page_for(*SUPERVISORS))]
HistoryReaders = Annotated[User, Depends(page_for(*HISTORY_READERS))]


def principal(user: User) -> Principal:
    return Principal(user.email, user.role)
