"""Health, and the dev-mode mail catcher's messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import DatabaseDep, SettingsDep
from api.errors import NotFound
from closeout.mailcatcher import get_caught, list_caught

router = APIRouter(tags=["system"])


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


@router.get("/dev/mail")
def dev_mail(settings: SettingsDep) -> list[dict[str, Any]]:
    """Messages the dev mail catcher received, newest first (dev mode only)."""
    if not settings.dev_mode:
        raise NotFound("the mail catcher exists only in dev mode")
    return [vars(m) for m in list_caught(settings.mail_catcher_dir)]


@router.get("/dev/mail/{mail_id}")
def dev_mail_message(mail_id: str, settings: SettingsDep) -> dict[str, Any]:
    if not settings.dev_mode:
        raise NotFound("the mail catcher exists only in dev mode")
    mail = get_caught(settings.mail_catcher_dir, mail_id)
    if mail is None:
        raise NotFound(f"no caught message {mail_id!r}")
    return vars(mail)
