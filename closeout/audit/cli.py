"""`closeout audit …`: check the audit trail's hash chain."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from closeout.audit.chain import verify
from closeout.db import Database

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Walk the audit trail's hash chain; report the first broken link (exit 1 if any)."""
    from closeout.cli import load_settings

    settings = load_settings()
    with Database.from_url(settings.database_url).session() as session:
        report = verify(session)
    broken = report.first_break
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "intact": report.intact,
                    "events": report.events,
                    "erased": report.erased,
                    "first_break": None if broken is None else asdict(broken),
                }
            )
        )
    elif broken is None:
        typer.echo(
            f"audit trail intact: {report.events} events chained, "
            f"{report.erased} with personal content erased"
        )
    else:
        typer.echo(f"audit trail broken at {broken}", err=True)
    if broken is not None:
        raise typer.Exit(1)
