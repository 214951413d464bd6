"""`closeout inbound`: the endpoint replies to notices are delivered to (SMTP, or LMTP from the
local MTA), or a mailbox they land in (IMAP), or one message fed from a file. Either way, every
kept reply is then handed to its case, which gives the owner a task to read it; a reply the
case cannot take yet (Temporal unreachable) stays waiting and is handed over by the endpoint's
next round, the mailbox's next pass or the next message fed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from closeout.db import Database, upgrade
from closeout.inbound.reading import InboundKind
from closeout.inbound.receiving import Handoff, Inbound, InboundOutcome, inbound_from
from closeout.settings import Settings
from closeout.temporal import TemporalUnreachable, connect

log = logging.getLogger("closeout.inbound")
KEPT = (InboundOutcome.ACCEPTED, InboundOutcome.DUPLICATE)
# How often the endpoint looks for replies still to hand over (it also does at once after
# each message it keeps).
HAND_OVER_EVERY = 30.0


async def _hand_over(settings: Settings, inbound: Inbound) -> dict[str, Handoff] | None:
    """Hand every waiting reply to its case; None when Temporal cannot be reached."""
    from workflows.case_handles import hand_over_replies

    try:
        client = await asyncio.wait_for(connect(settings), timeout=10)
    except (TemporalUnreachable, OSError, TimeoutError) as exc:
        log.warning("replies wait to be handed to their cases: Temporal unreachable (%s)", exc)
        return None
    return await hand_over_replies(client, inbound)


async def _serve(
    settings: Settings, inbound: Inbound, host: str, port: int, lmtp: bool = False
) -> None:
    from closeout.inbound.smtp import start_inbound

    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def kept() -> None:
        loop.call_soon_threadsafe(wake.set)

    controller = start_inbound(inbound, host, port, on_kept=kept, lmtp=lmtp)
    protocol = "LMTP" if lmtp else "SMTP"
    typer.echo(
        f"receiving mail for {inbound.replies.domain} on {host}:{port} ({protocol}; Ctrl-C stops)"
    )
    try:
        while True:
            await _hand_over(settings, inbound)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), HAND_OVER_EVERY)
            wake.clear()
    finally:
        controller.stop()


def _feed(settings: Settings, inbound: Inbound, file: Path, to: list[str]) -> None:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc
    received = inbound.receive(raw, to or None, datetime.now(UTC))
    case = f" (case {received.case_id})" if received.case_id else ""
    typer.echo(f"{received.outcome}{case}: {received.outcome.smtp_reply}")
    if received.outcome in KEPT and received.kind is InboundKind.REPLY:
        handed = asyncio.run(_hand_over(settings, inbound)) or {}
        handoff = handed.get(str(received.inbound_id))
        if handoff is Handoff.TASK:
            typer.echo("handed to the case: its owner has a task to read it")
        elif handoff is Handoff.CASE_CLOSED:
            typer.echo("kept on the case, which has ended: no task")
        elif received.outcome is InboundOutcome.ACCEPTED:
            typer.echo("kept: handed to its case once Temporal answers (closeout inbound)")
    raise typer.Exit(0 if received.outcome in KEPT else 1)


async def _poll_mailbox(settings: Settings, inbound: Inbound, once: bool) -> int:
    """Read the mailbox every CLOSEOUT_INBOUND_IMAP_EVERY seconds (or once); hand over what
    was kept. The exit code of a single pass: 0; 1 if a message could not be kept this time
    (it stays unread for the next pass); 2 if the mailbox could not be read."""
    from closeout.inbound.imap import ImapError, ImapMailbox, fetch_replies

    if not settings.inbound_imap_url or settings.inbound_imap_password is None:
        typer.echo(
            "error: --imap reads CLOSEOUT_INBOUND_IMAP_URL (imaps://user@host/Mailbox) and "
            "CLOSEOUT_INBOUND_IMAP_PASSWORD",
            err=True,
        )
        return 2
    try:
        box = ImapMailbox.parse(settings.inbound_imap_url)
    except ImapError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    typer.echo(f"reading {box.described()} every {settings.inbound_imap_every} s")
    while True:
        try:
            outcomes = await asyncio.to_thread(
                fetch_replies, box, settings.inbound_imap_password, inbound, datetime.now(UTC)
            )
        except ImapError as exc:
            if once:
                typer.echo(f"error: {exc}", err=True)
                return 2
            log.warning("%s", exc)
        else:
            for received in outcomes:
                case = f" (case {received.case_id})" if received.case_id else ""
                typer.echo(f"{received.outcome}{case}")
            if any(r.outcome is InboundOutcome.ACCEPTED for r in outcomes):
                await _hand_over(settings, inbound)
            if once and any(r.outcome is InboundOutcome.FAILED for r in outcomes):
                return 1
        if once:
            return 0
        await asyncio.sleep(settings.inbound_imap_every)


def run_inbound(
    settings: Settings,
    host: str,
    port: int,
    file: Path | None,
    to: list[str],
    lmtp: bool = False,
    imap: bool = False,
    once: bool = False,
) -> None:
    upgrade(settings.database_url)
    try:
        inbound = inbound_from(settings, Database.from_url(settings.database_url))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if file is not None:
        _feed(settings, inbound, file, to)
    if imap:
        with contextlib.suppress(KeyboardInterrupt):
            raise typer.Exit(asyncio.run(_poll_mailbox(settings, inbound, once)))
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings, inbound, host, port, lmtp))


def inbound(
    host: Annotated[
        str | None, typer.Option(help="where to listen (default CLOSEOUT_INBOUND_HOST, 127.0.0.1)")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="SMTP port (default CLOSEOUT_INBOUND_PORT, 2525)"),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="feed one message (.eml) instead of listening")
    ] = None,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="the fed message's recipient (default: its headers')"),
    ] = None,
    lmtp: Annotated[
        bool, typer.Option("--lmtp", help="speak LMTP, for delivery by the local MTA")
    ] = False,
    imap: Annotated[
        bool,
        typer.Option(
            "--imap", help="read CLOSEOUT_INBOUND_IMAP_URL's mailbox instead of listening"
        ),
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="with --imap: one pass, then exit")] = False,
) -> None:
    """Receive replies to notices (SMTP), or feed one message from a file; hand each reply to
    its case."""
    from cli.main import load_settings

    logging.basicConfig(level=logging.INFO)
    settings = load_settings()
    run_inbound(
        settings,
        host or settings.inbound_host,
        port or settings.inbound_port,
        file,
        to or [],
        lmtp,
        imap,
        once,
    )
