"""`closeout connectors check`: reach each connected system and say what it can do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from closeout.connectors.access import Checked
from closeout.connectors.errors import ConnectorError, UnknownCustomer
from closeout.crm.port import CustomerSource

connectors_app = typer.Typer(
    help="The company's own systems a case reaches (CLOSEOUT_CONNECTORS).", no_args_is_help=True
)


@connectors_app.command("check")
def connectors_check(
    customer: Annotated[
        str | None,
        typer.Option(help="also read (never change) what each system holds of this customer"),
    ] = None,
) -> None:
    """Connect to each access provider and data system with its credential, say what it
    cannot do of what a case needs, and with --customer read what it holds of that customer.
    Exit 1 if any system cannot be reached or lacks something."""
    from cli.main import connected_systems, load_settings

    systems = connected_systems(load_settings())
    typer.echo(f"customer source: {systems.source_name}")
    failed = False
    if systems.source_checked is not None:
        failed |= not _reached(systems.source_checked, "source: who customers are, status")
    if customer is not None:
        failed |= not _profile(systems.source, customer)
    for provider in systems.access:
        failed |= not _reached(provider, "access: list, revoke, restore")
        if customer is not None:
            failed |= not _dry_run(provider.grants, customer, "nothing to revoke")
    for system in systems.data:
        failed |= not _reached(system, "data: export, minimise, delete by category, restore, count")
        if customer is not None:
            failed |= not _dry_run(system.remaining, customer, "nothing held")
    if failed:
        raise typer.Exit(1)


def _reached(system: Checked, can: str) -> bool:
    try:
        missing = system.check()
    except ConnectorError as exc:
        typer.echo(f"{system.name}: FAILED: {exc}")
        return False
    if missing:
        typer.echo(f"{system.name}: reachable, lacks: {', '.join(missing)}")
        return False
    typer.echo(f"{system.name}: ok ({can})")
    return True


def _profile(source: CustomerSource, customer: str) -> bool:
    """Whether the source could be asked; what it says of the customer (no personal data)."""
    try:
        profile = source.get_profile(customer)
    except ConnectorError as exc:
        typer.echo(f"  {customer}: FAILED: {exc}")
        return False
    if profile is None:
        typer.echo(f"  {customer}: not a customer of the source (a case would be refused)")
    else:
        typer.echo(
            f"  {customer}: owner {profile.owner}, tier {profile.value_tier}, "
            f"locale {profile.locale}, status {profile.status}"
        )
    return True


def _dry_run(read: Callable[[str], dict[str, int]], customer: str, nothing: str) -> bool:
    try:
        held = read(customer)
    except UnknownCustomer:
        typer.echo(f"  {customer}: not known here ({nothing})")
        return True
    except ConnectorError as exc:
        typer.echo(f"  {customer}: FAILED: {exc}")
        return False
    if not any(held.values()):
        typer.echo(f"  {customer}: holds nothing ({nothing}; a dry run: nothing changed)")
    else:
        listed = ", ".join(f"{what} {n}" for what, n in held.items())
        typer.echo(f"  {customer}: {listed} (a dry run: nothing changed)")
    return True
