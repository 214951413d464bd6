"""`closeout suppression …`: after restoring a backup, make sure deleted customers stay deleted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from closeout.db import Database
from closeout.suppression.ledger import ledger_from

suppression_app = typer.Typer(
    help="Deleted customers stay deleted, even after a backup is restored.",
    no_args_is_help=True,
)


@suppression_app.command("check")
def suppression_check(
    purge: Annotated[
        bool,
        typer.Option("--purge", help="delete again what is found (the worker does it hourly)"),
    ] = False,
) -> None:
    """Look for customers the ledger names as deleted in the CRM, the archive and the data
    keys (exit 1 if any). Run it right after restoring a database or archive backup."""
    from cli.main import load_settings
    from worker import build_activities

    settings = load_settings()
    altered = ledger_from(settings).check().first_bad_line
    if altered is not None:
        typer.echo(f"error: the suppression ledger was altered at entry {altered}", err=True)
        raise typer.Exit(2)
    db = Database.from_url(settings.database_url)
    enforcer = build_activities(settings, db).housekeeping.suppression
    if purge:
        purged = enforcer.enforce(datetime.now(UTC))
        typer.echo(f"{len(purged)} deleted customers found again, and deleted again")
        return
    found = len(list(enforcer.found()))
    typer.echo(f"{found} deleted customers found again" + (": run with --purge" if found else ""))
    if found:
        raise typer.Exit(1)
