"""`closeout audit …`: check the audit trail's hash chain and the certificates' anchors."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from closeout.audit.chain import verify
from closeout.certificates.anchors import check_anchors
from closeout.certificates.repository import Certificates
from closeout.db import Database

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Walk the audit trail's hash chain and check every deletion certificate's anchor in it;
    report the first broken link and every certificate that does not hold (exit 1 if any)."""
    from cli.main import load_settings
    from closeout.cases.repository import case_repository

    settings = load_settings()
    db = Database.from_url(settings.database_url)
    with db.session() as session:
        report = verify(session, case_repository(settings, db).sealed.events_opener())
        anchors = check_anchors(session, Certificates(db, settings.record_keys()))
    broken = report.first_break
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "intact": report.intact,
                    "events": report.events,
                    "erased": report.erased,
                    "first_break": None if broken is None else asdict(broken),
                    "anchored": anchors.anchored,
                    "certificates": anchors.certificates,
                    "anchor_problems": [asdict(p) for p in anchors.problems],
                }
            )
        )
    else:
        if broken is None:
            typer.echo(
                f"audit trail intact: {report.events} events chained, "
                f"{report.erased} with personal content erased"
            )
        else:
            typer.echo(f"audit trail broken at {broken}", err=True)
        if anchors.anchored:
            typer.echo(f"certificate anchors hold: {anchors.certificates} certificates checked")
        for problem in anchors.problems:
            typer.echo(f"certificate anchor broken: {problem}", err=True)
    if broken is not None or not anchors.anchored:
        raise typer.Exit(1)
