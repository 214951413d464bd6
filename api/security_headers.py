"""Security headers on every answer: what a browser may load, frame, guess and keep.

Pages load their styles and scripts from /static only, so the policy allows no inline
script and no inline style. Every answer but a static file says `no-store`: pages, JSON,
CSV and certificate downloads and customers' data exports hold personal data that must not
stay in a browser's or a proxy's cache.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_PREFIX = "/static/"


def _policy(*directives: str) -> str:
    return "; ".join(directives)


BASE = (
    "default-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
IMAGES = "img-src 'self' data:"
POLICY = _policy(*BASE, IMAGES, "script-src 'self'", "style-src 'self'")
# The dev mail catcher shows a message's HTML part as the customer sees it: mail clients
# know no style sheets, so the message styles itself inline (dev mode only).
CAUGHT_MAIL_POLICY = _policy(*BASE, IMAGES, "script-src 'self'", "style-src 'self' 'unsafe-inline'")
# Swagger UI and ReDoc (dev mode, or CLOSEOUT_API_DOCS=true) start from an inline script and
# load their code, styles, fonts and images from public CDNs (each directive named once: a
# browser obeys the first of two).
DOCS_POLICY = _policy(
    *BASE,
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
    "font-src 'self' https://fonts.gstatic.com",
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
    "worker-src 'self' blob:",
)
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """ASGI middleware adding the headers to every HTTP answer that has not set its own."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        https_only: bool,
        docs_paths: tuple[str, ...],
        form_targets: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.docs_paths = docs_paths
        # Origins a form's answer may lead to besides this one: the identity provider's, whose
        # end-session page the sign-out form's answer redirects to (a browser applies
        # form-action to the redirects a form submission follows).
        self.policy = (
            POLICY.replace("form-action 'self'", " ".join(("form-action 'self'", *form_targets)))
            if form_targets
            else POLICY
        )
        self.common = {
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        # Outside dev mode the API sits behind TLS: browsers are told to use nothing else.
        if https_only:
            self.common["Strict-Transport-Security"] = HSTS

    def policy_for(self, path: str) -> str:
        if path in self.docs_paths:
            return DOCS_POLICY
        if path.startswith("/dev/mail/"):
            return CAUGHT_MAIL_POLICY
        return self.policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.common.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", self.policy_for(path))
                if not path.startswith(STATIC_PREFIX):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
