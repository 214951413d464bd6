"""Real systems for the connector contract: a SCIM 2.0 server (`scim2-server`) started on a
loopback port, the reference CRM in a SQLite file, and servers that refuse or never answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from closeout.settings import Settings
from tests.connectors.data_systems import DataUnderTest, sql_system
from tests.connectors.odoo import odoo_database


class _Refusing(BaseHTTPRequestHandler):
    """Answers every request with the status and headers of its server."""

    def do_GET(self) -> None:
        status, headers = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[Any]:
    """`answering(status, headers)`: the URL of a server answering every request so."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, headers: dict[str, str] | None = None) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
        server.answer = (status, headers or {})  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that takes connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def odoo_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty Odoo-shaped database (tests/connectors/odoo.py) on SQLite, then PostgreSQL."""
    with odoo_database(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sql_data(settings: Settings, odoo_url: str) -> Iterator[DataUnderTest]:
    with sql_system(settings, odoo_url) as found:
        yield found
