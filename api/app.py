"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.customer_service import CustomerService
from api.deps import Unauthenticated
from api.errors import install_error_handlers
from api.routes import answers, cases, customers, system, tasks
from api.service import CaseService
from api.temporal_gateway import TemporalGateway
from closeout.db import Database
from closeout.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.from_url(settings.database_url)
        temporal = TemporalGateway(settings)
        app.state.settings = settings
        app.state.db = db
        app.state.temporal = temporal
        app.state.cases = CaseService(settings, db, temporal)
        app.state.customers = CustomerService(db)
        yield
        db.engine.dispose()

    app = FastAPI(
        title="Closeout",
        summary="Close customers right: durable, auditable workflows to certified deletion.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_request: Request, exc: Unauthenticated) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    for router in (cases.router, tasks.router, customers.router, system.router, answers.router):
        app.include_router(router)
    return app
