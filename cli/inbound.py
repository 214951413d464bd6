"""`closeout inbound`: the endpoint replies to notices are delivered to, or one message fed
from a file (for hosts whose mail arrives elsewhere)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Annotated

import typer

from closeout.db import Database, upgrade
from closeout.inbound.receiving import InboundOutcome, inbound_from
from closeout.settings import Settings

log = logging.getLogger("closeout.inbound")
KEPT = (InboundOutcome.ACCEPTED, InboundOutcome.DUPLICATE)


def _recipients(raw: bytes) -> list[str]:
    """Where a message was addressed, by its headers (a file has no envelope)."""
    msg = message_from_bytes(raw, policy=policy.default)
    found: list[str] = []
    for name in ("Delivered-To", "X-Original-To", "To", "Cc"):
        found += [str(v) for v in msg.get_all(name) or []]
    return found


def run_inbound(settings: Settings, host: str, port: int, file: Path | None, to: list[str]) -> None:
    upgrade(settings.database_url)
    try:
        inbound = inbound_from(settings, Database.from_url(settings.database_url))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if file is not None:
        try:
            raw = file.read_bytes()
        except OSError as exc:
            typer.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
            raise typer.Exit(2) from exc
        received = inbound.receive(raw, to or _recipients(raw), datetime.now(UTC))
        case = f" (case {received.case_id})" if received.case_id else ""
        typer.echo(f"{received.outcome}{case}: {received.outcome.smtp_reply}")
        raise typer.Exit(0 if received.outcome in KEPT else 1)
    from closeout.inbound.smtp import start_inbound

    controller = start_inbound(inbound, host, port)
    typer.echo(f"receiving mail for {inbound.replies.domain} on {host}:{port} (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


def inbound(
    host: Annotated[str, typer.Option(help="where to listen")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="SMTP port")] = 2525,
    file: Annotated[
        Path | None, typer.Option("--file", help="feed one message (.eml) instead of listening")
    ] = None,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="the fed message's recipient (default: its headers')"),
    ] = None,
) -> None:
    """Receive replies to notices (SMTP), or feed one message from a file."""
    from cli.main import load_settings

    logging.basicConfig(level=logging.INFO)
    run_inbound(load_settings(), host, port, file, to or [])
