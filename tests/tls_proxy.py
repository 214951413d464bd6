"""A TLS-terminating proxy on loopback, in front of a plaintext Temporal server.

The dev server speaks plaintext only; this puts a real TLS (or mutual TLS) handshake, with
certificates from a test CA, between a client and it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

import hpack
import trustme

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEADERS, _CONTINUATION = 0x1, 0x9
_END_HEADERS, _PADDED, _PRIORITY = 0x4, 0x8, 0x20


class HeaderReader:
    """The request headers a client sends over HTTP/2 (what a gRPC server would read: the
    metadata, an `authorization` header among them), decoded as the bytes pass."""

    def __init__(self, seen: list[dict[str, str]]) -> None:
        self.seen = seen
        self._buffer = b""
        self._preface = False
        self._block = b""
        self._decoder = hpack.Decoder()

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if not self._preface:
            if len(self._buffer) < len(_PREFACE):
                return
            self._buffer, self._preface = self._buffer[len(_PREFACE) :], True
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[:3], "big")
            kind, flags = self._buffer[3], self._buffer[4]
            if len(self._buffer) < 9 + length:
                return
            payload, self._buffer = self._buffer[9 : 9 + length], self._buffer[9 + length :]
            if kind == _HEADERS:
                pad = payload[0] if flags & _PADDED else 0
                payload = payload[1:] if flags & _PADDED else payload
                payload = payload[5:] if flags & _PRIORITY else payload
                self._block = payload[: len(payload) - pad]
            elif kind == _CONTINUATION:
                self._block += payload
            else:
                continue
            if flags & _END_HEADERS:
                decoded = self._decoder.decode(self._block)
                self.seen.append({str(k): str(v) for k, v in decoded})


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    headers: HeaderReader | None = None,
) -> None:
    try:
        while data := await reader.read(65536):
            if headers is not None:
                headers.feed(data)
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
async def tls_proxy(
    backend: str, context: ssl.SSLContext, seen: list[dict[str, str]] | None = None
) -> AsyncIterator[str]:
    """Yields the proxy's `host:port`; each connection is relayed to `backend` in plaintext.
    With `seen`, the headers of every request clients send are added to it."""
    host, port = backend.rsplit(":", 1)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        headers = HeaderReader(seen) if seen is not None else None
        await asyncio.gather(_pipe(reader, up_writer, headers), _pipe(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        server.close()
