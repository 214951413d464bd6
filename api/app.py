"""The FastAPI application: the JSON API, the staff pages and the customers' answer pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.status import HTTP_422_UNPROCESSABLE_CONTENT

from api.access_log import install_access_log_filter
from api.adapters import ApiAdapters
from api.answer_service import CustomerAnswers
from api.compliance_service import ComplianceService
from api.customer_service import CustomerService
from api.deps import Unauthenticated
from api.errors import Conflict, DomainError, Forbidden, NotFound, Unavailable
from api.metrics import ApiMetrics, RequestMetrics
from api.nul_refusal import RefuseNul
from api.policy_service import PolicyService
from api.privacy_requests import PrivacyRequests
from api.refusals import audit_refusal
from api.request_service import RequestService
from api.routes import (
    answers,
    cases,
    codec,
    customers,
    insights,
    policies,
    privacy,
    requests,
    system,
    tasks,
    triggers,
)
from api.security_headers import STATIC_PREFIX, SecurityHeaders
from api.service import CaseService
from api.sign_in_limits import SignInLimits
from api.task_board import TaskBoard
from api.temporal_gateway import TemporalGateway
from api.trigger_service import TriggerService
from api.web import audit, auth, bulk, case_actions, compliance, detection, holds, oidc
from api.web import cases as case_pages
from api.web import customers as customer_pages
from api.web import insights as insight_pages
from api.web import tasks as task_pages
from api.web.render import render
from api.web.session import SignInRequired
from closeout.connectors.errors import (
    AmbiguousCustomer,
    ConnectorError,
    RateLimited,
    UnknownCustomer,
)
from closeout.crypto.purpose_keys import KeyPurpose
from closeout.db import Database
from closeout.observability.logs import configure_logging
from closeout.settings import Settings
from closeout.users.accounts import Accounts
from closeout.users.oidc import oidc_from, oidc_origins
from closeout.users.sessions import WebSessions

SESSION_COOKIE = "closeout_session"
# The pages' style sheets and scripts: the Content-Security-Policy allows no inline ones.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ROUTERS: tuple[APIRouter, ...] = (
    requests.router,
    cases.router,
    tasks.router,
    triggers.router,
    customers.router,
    policies.router,
    codec.router,
    system.router,
    answers.router,
    privacy.router,
    auth.router,
    oidc.router,
    task_pages.router,
    case_pages.router,
    compliance.router,
    holds.router,
    audit.router,
    detection.router,
    customer_pages.router,
    case_actions.router,
    bulk.router,
    insights.router,
    insight_pages.router,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.log_format == "json":  # served by `uvicorn --factory` too, not only the CLI
        configure_logging("json")
    install_access_log_filter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.from_url(settings.database_url, settings.database_pool_size)
        temporal = TemporalGateway(settings)
        accounts = Accounts(db, dev_mode=settings.dev_mode)
        app.state.settings = settings
        app.state.db = db
        app.state.temporal = temporal
        app.state.accounts = accounts
        app.state.web_sessions = WebSessions(
            db,
            settings.purpose_key(KeyPurpose.CSRF),
            idle=settings.session_idle,
            max_age=settings.session_max_age,
        )
        app.state.sign_in_limits = SignInLimits(
            settings.sign_in_limit_per_account, settings.sign_in_limit_per_address
        )
        adapters = ApiAdapters.build(settings, db)
        app.state.cases = CaseService(settings, adapters, temporal, accounts)
        app.state.answers = CustomerAnswers(settings, adapters, temporal)
        app.state.customers = CustomerService(settings, adapters)
        app.state.board = TaskBoard(settings, adapters, accounts, temporal)
        app.state.triggers = TriggerService(settings, adapters, temporal)
        app.state.compliance = ComplianceService(adapters)
        app.state.requests = RequestService(adapters, temporal)
        app.state.privacy = PrivacyRequests(settings, adapters, temporal)
        app.state.policies = PolicyService(settings, adapters.cases, temporal)
        app.state.adapters = adapters
        app.state.oidc = oidc_from(settings)
        metrics.watch(db)
        try:
            async with app.state.answers.refused_links.flushed_each_minute():
                yield
        finally:
            metrics.forget()
            db.engine.dispose()

    app = FastAPI(
        title="Closeout",
        summary="Close customers right: durable, auditable workflows to certified deletion.",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/openapi.json" if settings.serves_api_docs else None,
        docs_url="/docs" if settings.serves_api_docs else None,
        redoc_url="/redoc" if settings.serves_api_docs else None,
    )
    # Innermost: a request holding a NUL is refused before a route or the session reads it.
    app.add_middleware(RefuseNul)
    # The cookie only carries a session id (or, before sign-in, a CSRF token), signed with
    # the sessions' own key: a new secret key ends every session.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.purpose_key(KeyPurpose.SESSIONS).hex(),
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.session_max_age.total_seconds()),
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    # Added last, so it wraps the others: sign-in redirects get the headers too.
    app.add_middleware(
        SecurityHeaders,
        https_only=not settings.dev_mode,
        form_targets=oidc_origins(settings),
        docs_paths=tuple(
            p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p
        ),
    )
    # Outermost: every answer is counted, the refusals and error pages of the others too.
    metrics = ApiMetrics()
    app.state.metrics = metrics
    app.add_middleware(RequestMetrics, metrics=metrics)
    install_error_pages(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PREFIX.rstrip("/"), StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _printable(value: Any) -> Any:
    """`value` with every string made encodable (lone surrogates escaped)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    return value


def install_error_pages(app: FastAPI) -> None:
    """Domain errors as JSON for the API and as pages for people; refusals are audited."""

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> Response:
        if isinstance(exc, Forbidden):
            audit_refusal(request, exc)
        if getattr(request.state, "web", False):
            user = getattr(request.state, "user", None)
            return render(
                request, user, "error", exc.status_code, message=exc.message, code=exc.status_code
            )
        return JSONResponse({"detail": exc.message, **exc.extra}, status_code=exc.status_code)

    @app.exception_handler(ConnectorError)
    async def _connector(request: Request, exc: ConnectorError) -> Response:
        # A connected system (the customer source) could not answer: the typed error's words
        # name the system and what went wrong, never a value it holds.
        refused: DomainError
        if isinstance(exc, UnknownCustomer):
            refused = NotFound(str(exc))
        elif isinstance(exc, AmbiguousCustomer):  # someone must first say which is theirs
            refused = Conflict(str(exc))
        else:
            refused = Unavailable(str(exc))
        answer = await _domain_error(request, refused)
        if not isinstance(refused, Unavailable):
            return answer
        wait = exc.retry_after if isinstance(exc, RateLimited) else None
        answer.headers["Retry-After"] = str(int(wait) if wait is not None else 30)
        return answer

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer, with the input echoed as JSON can carry it: a lone surrogate
        # in a request's string (which is why it is refused) would fail the answer itself.
        errors = _printable(jsonable_encoder(exc.errors()))
        return JSONResponse({"detail": errors}, status_code=HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_request: Request, exc: Unauthenticated) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)
