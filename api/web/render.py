"""Rendering the staff pages in the signed-in user's language."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response

from api.errors import Invalid
from api.templating import templates_for
from api.web.session import csrf_token
from closeout.i18n import catalog_for
from closeout.settings import Settings
from closeout.users.accounts import User

E = TypeVar("E", bound=StrEnum)


def page_catalog(request: Request, user: User | None) -> str:
    """The user's own language; before sign-in, the browser's."""
    if user is not None:
        return catalog_for(user.locale)
    accepted = request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip()
    return catalog_for(accepted or None)


def render(
    request: Request, user: User | None, name: str, status: int = 200, **context: Any
) -> Response:
    settings: Settings = request.app.state.settings
    catalog = page_catalog(request, user)
    context |= {
        "user": user,
        "csrf": csrf_token(request),
        "lang": catalog.replace("_", "-"),
        "company": settings.company_name,
        "currency": settings.currency,
        "dev_mode": settings.dev_mode,
        "path": request.url.path,
        # Shown as "Sign in with …" on the sign-in form when an identity provider is set.
        "oidc_label": settings.oidc_label if getattr(request.app.state, "oidc", None) else None,
    }
    return templates_for(catalog).TemplateResponse(
        request, f"web/{name}.html", context, status_code=status
    )


def choice(kind: type[E], value: str | None, name: str) -> E | None:
    """A filter from a query string: empty means none, anything unknown is a 422."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(kind)
        raise Invalid(f"unknown {name} {value!r} (known: {known})") from None
