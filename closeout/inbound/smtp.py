"""The inbound SMTP endpoint (aiosmtpd): where replies to notices are delivered.

Only addresses at the inbound domain are taken (anything else is refused at RCPT: no relay);
each message then gets its outcome (closeout/inbound/receiving.py) as the reply to its DATA, so
the sending server bounces what Closeout refuses. Messages over the limit are refused by the
SIZE extension before their data is sent.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.controller import Controller

from closeout.inbound.receiving import Inbound


class InboundHandler:
    def __init__(self, inbound: Inbound) -> None:
        self.inbound = inbound

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
        return received.outcome.smtp_reply


def start_inbound(inbound: Inbound, host: str, port: int) -> Controller:
    """The endpoint, listening on `host`:`port` until stopped."""
    controller = Controller(
        InboundHandler(inbound),
        hostname=host,
        port=port,
        data_size_limit=inbound.max_bytes,
        decode_data=False,
    )
    controller.start()
    return controller
