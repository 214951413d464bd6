"""Requests holding a NUL character (U+0000) are refused before any route reads them.

PostgreSQL's text cannot hold a NUL: a search, an id or a sign-in name carrying one failed
inside the database driver with a server error, where SQLite took it. No text Closeout keeps
or looks up has a use for one, so every request is held to the same rule on both databases:
its path, its query string and its body (JSON, a form, a multipart form) are read here, and
one with a NUL gets a 400 naming the rule before any route runs.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REFUSAL = "NUL characters (U+0000) are refused: no text Closeout keeps or looks up holds one"
# How a NUL reads in each kind of body: JSON escapes it, a URL-encoded form percent-encodes
# it, a multipart form carries it as it is.
_IN_BODY = {
    "application/json": (b"\\u0000", b"\x00"),
    "application/x-www-form-urlencoded": (b"%00", b"\x00"),
    "multipart/form-data": (b"\x00",),
}


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = value.decode("latin-1").split(";", 1)[0].strip().lower()
            return "application/json" if kind.endswith("+json") else kind
    return ""


def _holds_nul(body: bytes, content_type: str) -> bool:
    if not any(mark in body for mark in _IN_BODY.get(content_type, ())):
        return False
    if content_type != "application/json" or b"\x00" in body:
        return True
    # `\u0000` may be the text of a backslash followed by "u0000" ("\\u0000"): only a NUL
    # in a decoded string counts (a body that is not JSON is left to the route to refuse).
    try:
        return _nul_in(json.loads(body))
    except (ValueError, RecursionError):
        return False


def _nul_in(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_nul_in(k) or _nul_in(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_nul_in(v) for v in value)
    return False


class RefuseNul:
    """ASGI middleware: a 400 for a request whose path, query or body holds a NUL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            await _refuse(send)
            return
        content_type = _content_type(scope)
        if content_type not in _IN_BODY:
            await self.app(scope, receive, send)
            return
        # The body is read whole (forms and JSON bodies are small), looked at, then handed on.
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if _holds_nul(body, content_type):
            await _refuse(send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send) -> None:
    payload = json.dumps({"detail": REFUSAL}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
