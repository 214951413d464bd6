"""`closeout connectors check`: reach each connected system and say what it can do."""

from __future__ import annotations

from typing import Annotated

import typer

from closeout.connectors.errors import ConnectorError, UnknownCustomer

connectors_app = typer.Typer(
    help="The company's own systems a case reaches (CLOSEOUT_CONNECTORS).", no_args_is_help=True
)


@connectors_app.command("check")
def connectors_check(
    customer: Annotated[
        str | None,
        typer.Option(help="also read (never change) what lets this customer in, everywhere"),
    ] = None,
) -> None:
    """Connect to each access provider with its credential, say what it cannot do of what a
    case needs, and with --customer read what it holds of that customer. Exit 1 if any
    system cannot be reached or lacks something."""
    from cli.main import load_settings
    from closeout.connectors.adapters import access_providers
    from closeout.crm.adapters import crm_from
    from closeout.db import Database

    settings = load_settings()
    db = Database.from_url(settings.database_url)
    failed = False
    for provider in access_providers(settings, crm_from(settings, db)):
        try:
            missing = provider.check()
        except ConnectorError as exc:
            typer.echo(f"{provider.name}: FAILED: {exc}")
            failed = True
            continue
        if missing:
            typer.echo(f"{provider.name}: reachable, lacks: {', '.join(missing)}")
            failed = True
        else:
            typer.echo(f"{provider.name}: ok (access: list, revoke, restore)")
        if customer is None:
            continue
        try:
            grants = provider.grants(customer)
        except UnknownCustomer:
            typer.echo(f"  {customer}: not known here (nothing to revoke)")
            continue
        except ConnectorError as exc:
            typer.echo(f"  {customer}: FAILED: {exc}")
            failed = True
            continue
        held = ", ".join(f"{what} {n}" for what, n in grants.items())
        typer.echo(f"  {customer}: {held} (a dry run: nothing changed)")
    if failed:
        raise typer.Exit(1)
