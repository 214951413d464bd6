"""A TLS-terminating proxy on loopback, in front of a plaintext Temporal server.

The dev server speaks plaintext only; this puts a real TLS (or mutual TLS) handshake, with
certificates from a test CA, between a client and it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

import trustme


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


def server_context(ca: trustme.CA, *, require_client_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("temporal.closeout.test", "127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["h2"])  # gRPC runs on HTTP/2
    if require_client_cert:
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@contextlib.asynccontextmanager
async def tls_proxy(backend: str, context: ssl.SSLContext) -> AsyncIterator[str]:
    """Yields the proxy's `host:port`; each connection is relayed to `backend` in plaintext."""
    host, port = backend.rsplit(":", 1)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        server.close()
