"""Health, and the dev-mode mail catcher's messages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from api.deps import DatabaseDep, SettingsDep
from api.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from api.metrics import metrics_allowed
from api.openapi_links import MAIL_FROM_LIST, links
from closeout.connectors.access import connector_state
from closeout.mail import TEMPLATES_DIR
from closeout.mailcatcher import get_caught, list_caught, reply_to_caught
from closeout.settings import Settings

router = APIRouter(tags=["system"])
templates = Jinja2Templates(directory=TEMPLATES_DIR)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, settings: SettingsDep) -> Response:
    """Prometheus metrics: requests, latency and the read model's gauges. Outside dev mode
    only for `Authorization: Bearer <CLOSEOUT_METRICS_TOKEN>`, and off without that setting."""
    allowed = metrics_allowed(settings, request.headers.get("authorization"))
    if allowed is None:
        raise NotFound("metrics are off: set CLOSEOUT_METRICS_TOKEN and scrape with it")
    if not allowed:
        return JSONResponse(
            {"detail": "metrics need Authorization: Bearer <CLOSEOUT_METRICS_TOKEN>"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body = await run_in_threadpool(request.app.state.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
async def healthz(request: Request, db: DatabaseDep) -> JSONResponse:
    """200 when the API, the database and Temporal all answer; 503 saying which does not.
    Each connected system is reported too (`connectors`, "ok" or "error", asked at most once a
    minute; `closeout connectors check` says why): one that fails makes the status "degraded"
    but not a 503, since cases wait for it and retry, and the API still serves."""
    checks: dict[str, str] = {"api": "ok"}
    try:
        with db.session() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    checks["temporal"] = "ok" if await request.app.state.temporal.healthy() else "unreachable"
    healthy = all(v == "ok" for v in checks.values())
    adapters = request.app.state.adapters
    connectors: dict[str, str] = {}
    for system in (*adapters.access, *adapters.data):  # the CRM is both: reported once
        state = await run_in_threadpool(connector_state, system)
        connectors[system.name] = (
            "error" if "error" in (state, connectors.get(system.name)) else state
        )
    whole = healthy and all(v == "ok" for v in connectors.values())
    return JSONResponse(
        {"status": "ok" if whole else "degraded", **checks, "connectors": connectors},
        status_code=200 if healthy else 503,
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
        return templates.TemplateResponse(
            request,
            "dev/mail_message.html",
            {"message": mail, "replied": request.query_params.get("replied") == "1"},
        )
    return vars(mail)


# The longest reply the caught mail's "reply" button sends.
MAX_REPLY_CHARS = 10_000


def _same_origin(request: Request, settings: Settings) -> bool:
    """A post from the app's own pages, by the browser's fetch metadata, or where a browser
    sends none, by its Origin; a client that is no browser sends neither."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    own = urlsplit(settings.base_url)
    return origin is None or origin == f"{own.scheme}://{own.netloc}"


@router.post("/dev/mail/{mail_id}/reply", response_model=None)
async def dev_mail_reply(
    mail_id: str, request: Request, settings: SettingsDep
) -> dict[str, Any] | Response:
    """Reply to a caught notice as its customer would: sent over SMTP to the inbound endpoint
    (`closeout inbound`, CLOSEOUT_INBOUND_HOST/PORT), threaded on the notice. A form field or
    JSON `text`."""
    if not settings.dev_mode:
        raise NotFound("the mail catcher exists only in dev mode")
    if not _same_origin(request, settings):
        raise Forbidden("replies are sent from the caught mail's own page")
    mail = get_caught(settings.mail_catcher_dir, mail_id)
    if mail is None:
        raise NotFound(f"no caught message {mail_id!r}")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError as exc:
            raise Invalid("the body is not JSON") from exc
        text_given = body.get("text") if isinstance(body, dict) else None
    else:
        text_given = (await request.form()).get("text")
    if not isinstance(text_given, str) or not text_given.strip():
        raise Invalid("a reply needs its text (field `text`)")
    if len(text_given) > MAX_REPLY_CHARS:
        raise Invalid(f"a reply is at most {MAX_REPLY_CHARS} characters")
    if not mail.reply_to:
        raise Conflict("this message has no Reply-To: replies are off (CLOSEOUT_INBOUND_DOMAIN)")
    reply = reply_to_caught(mail, text_given.strip())
    try:
        await aiosmtplib.send(
            reply, hostname=settings.inbound_host, port=settings.inbound_port, timeout=15
        )
    except aiosmtplib.SMTPResponseException as exc:
        raise Conflict(f"the inbound endpoint refused the reply: {exc.code} {exc.message}") from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise Unavailable(
            f"no inbound endpoint answers on {settings.inbound_host}:{settings.inbound_port}"
            " (closeout inbound)"
        ) from exc
    if _wants_html(request) or not request.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return RedirectResponse(f"/dev/mail/{mail_id}?replied=1", status_code=303)
    return {"sent": True, "to": mail.reply_to, "message_id": str(reply["Message-ID"])}
