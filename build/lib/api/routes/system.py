"""Health, and the dev-mode mail catcher's messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import text

from api.deps import DatabaseDep, SettingsDep
from api.errors import NotFound
from api.openapi_links import MAIL_FROM_LIST, links
from closeout.mail import TEMPLATES_DIR
from closeout.mailcatcher import get_caught, list_caught

router = APIRouter(tags=["system"])
templates = Jinja2Templates(directory=TEMPLATES_DIR)


@router.get("/healthz")
async def healthz(request: Request, db: DatabaseDep) -> JSONResponse:
    """200 when the API, the database and Temporal all answer; 503 saying which does not."""
    checks: dict[str, str] = {"api": "ok"}
    try:
        with db.session() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    checks["temporal"] = "ok" if await request.app.state.temporal.healthy() else "unreachable"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503
    )


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@router.get("/dev/mail", response_model=None, responses=links(200, MAIL_FROM_LIST))
def dev_mail(request: Request, settings: SettingsDep) -> list[dict[str, Any]] | Response:
    """Messages the dev mail catcher received, newest first: JSON, or a page for browsers."""
    if not settings.dev_mode:
        raise NotFound("the mail catcher exists only in dev mode")
    messages = list_caught(settings.mail_catcher_dir)
    if _wants_html(request):
        return templates.TemplateResponse(request, "dev/mail_list.html", {"messages": messages})
    return [vars(m) for m in messages]


@router.get("/dev/mail/{mail_id}", response_model=None)
def dev_mail_message(
    mail_id: str, request: Request, settings: SettingsDep
) -> dict[str, Any] | Response:
    """One caught message, with its text and HTML parts (links clickable in the page)."""
    if not settings.dev_mode:
        raise NotFound("the mail catcher exists only in dev mode")
    mail = get_caught(settings.mail_catcher_dir, mail_id)
    if mail is None:
        raise NotFound(f"no caught message {mail_id!r}")
    if _wants_html(request):
        return templates.TemplateResponse(request, "dev/mail_message.html", {"message": mail})
    return vars(mail)
