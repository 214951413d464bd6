"""The API's Prometheus metrics: requests by route and status, their latency, and the read
model's gauges (closeout/observability/read_model_metrics.py), all on one registry per app."""

from __future__ import annotations

import hmac
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.security_headers import STATIC_PREFIX
from closeout.db import Database
from closeout.observability.read_model_metrics import ReadModelCollector
from closeout.settings import Settings

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: most answers take milliseconds; a page listing thousands of cases, more.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """One app's registry: its own, so two apps in one process count apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "closeout_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "closeout_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._read_model: ReadModelCollector | None = None

    def watch(self, db: Database) -> None:
        """Report the read model's gauges (once the app has its database)."""
        if self._read_model is None:
            self._read_model = ReadModelCollector(db)
            self.registry.register(self._read_model)

    def forget(self) -> None:
        if self._read_model is not None:
            self.registry.unregister(self._read_model)
            self._read_model = None

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def route_label(scope: Scope) -> str:
    """The route's template (`/api/cases/{case_id}`), never the path itself: no id becomes a
    label, and the series stay as many as the routes."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    if str(scope.get("path", "")).startswith(STATIC_PREFIX):
        return STATIC_PREFIX + "*"
    return "unmatched"


class RequestMetrics:
    """ASGI middleware counting every HTTP answer and timing it."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before it starts answering

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = route_label(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def metrics_allowed(settings: Settings, authorization: str | None) -> bool | None:
    """Whether a scrape may read the metrics: True, False (wrong or no token), or None when
    metrics are off (outside dev mode with no CLOSEOUT_METRICS_TOKEN)."""
    token = settings.metrics_token
    if token is None:
        return True if settings.dev_mode else None
    scheme, _, given = (authorization or "").partition(" ")
    return (
        scheme.lower() == "bearer"
        and bool(given.strip())
        and hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())
    )
