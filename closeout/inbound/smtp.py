"""The inbound SMTP or LMTP endpoint (aiosmtpd): where replies to notices are delivered, by
another server over SMTP, or by the local MTA over LMTP (RFC 2033: one reply per recipient).

Only addresses at the inbound domain are taken (anything else is refused at RCPT: no relay);
each message then gets its outcome (closeout/inbound/receiving.py) as the reply to its DATA, so
the sending server bounces what Closeout refuses. Messages over the limit are refused by the
SIZE extension before their data is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP

from closeout.inbound.receiving import Inbound, InboundOutcome


class InboundHandler:
    def __init__(self, inbound: Inbound, on_kept: Callable[[], None] | None = None) -> None:
        self.inbound = inbound
        # Called (from the endpoint's thread) when a message was kept: replies to hand over.
        self.on_kept = on_kept

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        _local, _, domain = address.rpartition("@")
        if domain.lower() != self.inbound.replies.domain:
            return "550 5.7.1 Relaying denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        received = await asyncio.to_thread(
            self.inbound.receive, bytes(raw), list(envelope.rcpt_tos), datetime.now(UTC)
        )
        if received.outcome is InboundOutcome.ACCEPTED and self.on_kept is not None:
            self.on_kept()
        if isinstance(server, LMTP):
            # The message is one, whoever it was for: each recipient gets its outcome.
            return "\r\n".join([received.outcome.smtp_reply] * len(envelope.rcpt_tos))
        return received.outcome.smtp_reply


class _LmtpController(Controller):
    def factory(self) -> LMTP:
        return LMTP(self.handler, **self.SMTP_kwargs)


def start_inbound(
    inbound: Inbound,
    host: str,
    port: int,
    on_kept: Callable[[], None] | None = None,
    lmtp: bool = False,
) -> Controller:
    """The endpoint, listening on `host`:`port` until stopped; LMTP instead of SMTP if asked."""
    controller = (_LmtpController if lmtp else Controller)(
        InboundHandler(inbound, on_kept),
        hostname=host,
        port=port,
        data_size_limit=inbound.max_bytes,
        decode_data=False,
    )
    controller.start()
    return controller
