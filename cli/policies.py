"""`closeout policies …`: what a changed retention policy would move, then applying it."""

from __future__ import annotations

import asyncio
import getpass
from typing import TYPE_CHECKING, Annotated

import typer

from closeout.cases.repository import case_repository
from closeout.db import Database
from closeout.domain import Role
from closeout.tokens import Principal

if TYPE_CHECKING:
    from api.policy_service import PolicyChanges, PolicyService

policies_app = typer.Typer(help="Retention policies and the cases they run.", no_args_is_help=True)


def _service() -> PolicyService:
    from api.policy_service import PolicyService
    from api.temporal_gateway import TemporalGateway
    from cli.main import load_settings

    settings = load_settings()
    db = Database.from_url(settings.database_url)
    return PolicyService(settings, case_repository(settings, db), TemporalGateway(settings))


def _print(result: PolicyChanges, as_json: bool) -> None:
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    typer.echo(
        f"policy {result.policy}: {len(result.cases)} of {result.open_cases} open cases move"
    )
    for case in result.cases:
        typer.echo(f"  case {case.case_id} ({case.customer_id}, {case.stage})")
        for m in case.moves:
            if m.new_ends_at is not None:
                typer.echo(f"    {m.category}: deleted {m.ends_at} -> {m.new_ends_at}")
            else:
                typer.echo(f"    {m.category}: kept {m.period} -> {m.new_period}")
    for case_id, why in result.untouched.items():
        typer.echo(f"  untouched {case_id}: {why}")


@policies_app.command("diff")
def policies_diff(
    name: Annotated[str, typer.Argument(help="the policy, as configured now")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Dry run: which open cases the configured policy would move, and how."""
    from api.errors import DomainError

    service = _service()
    try:
        _print(asyncio.run(service.changes(name)), as_json)
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc


@policies_app.command("apply")
def policies_apply(
    name: Annotated[str, typer.Argument(help="the policy, as configured now")],
    reason: Annotated[str, typer.Option(help="why the policy changed (audited)")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Apply the configured periods to every open case the dry run says would move."""
    from api.errors import DomainError

    if not reason.strip():
        typer.echo("error: a reason is required", err=True)
        raise typer.Exit(2)
    service = _service()
    operator = Principal(f"cli:{getpass.getuser()}", Role.ADMIN)
    try:
        result = asyncio.run(service.apply(name, reason, operator))
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    _print(result, as_json)
    if not as_json:
        typer.echo(f"applied to {result.applied} cases")
