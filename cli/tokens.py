"""`closeout tokens …`: API tokens, made for a user or an integration, listed and revoked."""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Annotated

import typer

from closeout.db import Database
from closeout.domain import Role
from closeout.tokens import (
    DEFAULT_TOKEN_TTL,
    LIFETIME_FORMAT,
    TokenError,
    create_token,
    list_tokens,
    parse_lifetime,
    revoke_token,
)

tokens_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)


def _database() -> Database:
    from cli.main import load_settings

    return Database.from_url(load_settings().database_url)


def operator() -> str:
    """Who runs the command, as the audit trail names them."""
    return f"cli:{getpass.getuser()}"


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "-"


@tokens_app.command("create")
def tokens_create(
    name: Annotated[
        str | None,
        typer.Option(
            help="the e-mail of the user the token belongs to; for --role integration, "
            "the name of the system that uses it"
        ),
    ] = None,
    role: Annotated[
        Role | None,
        typer.Option(help="the user's role (taken from the user when left out), or integration"),
    ] = None,
    expires: Annotated[
        str,
        typer.Option(help=f"how long the token works: {LIFETIME_FORMAT}"),
    ] = f"{DEFAULT_TOKEN_TTL.days}d",
) -> None:
    """Create an API token and print it (it is stored hashed and cannot be shown again)."""
    if name is None:
        if role is not Role.INTEGRATION:
            typer.echo("error: a token belongs to a user: give their e-mail with --name", err=True)
            raise typer.Exit(2)
        name = "integration-token"
    try:
        token = create_token(_database(), name, role, ttl=parse_lifetime(expires), actor=operator())
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(token)


@tokens_app.command("list")
def tokens_list() -> None:
    """Every token: id, name, role, user, created, expires, revoked (never the secret)."""
    rows = list_tokens(_database())
    typer.echo(f"{'ID':36}  {'NAME':32}  {'ROLE':18}  {'CREATED':16}  {'EXPIRES':16}  REVOKED")
    for t in rows:
        typer.echo(
            f"{t.id:36}  {t.name[:32]:32}  {t.role:18}  {_when(t.created_at):16}  "
            f"{_when(t.expires_at):16}  {_when(t.revoked_at)}"
        )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="the token's id, from `closeout tokens list`")],
) -> None:
    """Revoke a token: it is refused from the next request on."""
    try:
        revoked = revoke_token(_database(), token_id, actor=operator())
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"revoked token {token_id}" if revoked else f"token {token_id} was already revoked")
