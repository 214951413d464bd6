"""`closeout users …`: the people who sign in to the web pages."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.tokens import operator
from closeout.db import Database, upgrade
from closeout.domain import Role
from closeout.users.accounts import Accounts, UserError

users_app = typer.Typer(help="People who sign in to the web pages.", no_args_is_help=True)
ROLES_HELP = "account_manager, manager, compliance_officer or admin"


def _accounts() -> Accounts:
    from cli.main import load_settings

    settings = load_settings()
    upgrade(settings.database_url)
    return Accounts(Database.from_url(settings.database_url), dev_mode=settings.dev_mode)


def _refused(exc: UserError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="the user's e-mail address, used to sign in")],
    role: Annotated[Role, typer.Option(help=ROLES_HELP)],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="CLOSEOUT_NEW_USER_PASSWORD",
            help="asked for when not given (or from CLOSEOUT_NEW_USER_PASSWORD)",
        ),
    ],
    name: Annotated[str | None, typer.Option(help="the name shown on pages")] = None,
    locale: Annotated[str, typer.Option(help="page language: en or zh-CN")] = "en",
) -> None:
    """Create a user who signs in to the web pages; the password is stored as Argon2."""
    try:
        user = _accounts().add(email, role, password, display_name=name, locale=locale)
    except UserError as exc:
        raise _refused(exc) from exc
    typer.echo(f"added {user.email} ({user.role})")


@users_app.command("list")
def users_list() -> None:
    """Every user: e-mail, role, name, and whether they are disabled."""
    for u in _accounts().listing():
        state = f"disabled {u.disabled_at:%Y-%m-%d %H:%M}" if u.disabled_at else "enabled"
        typer.echo(f"{u.email:40}  {u.role:18}  {state:26}  {u.display_name}")


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Argument(help="the user's e-mail")]) -> None:
    """Disable a user: their sessions end now and their API tokens are refused."""
    try:
        changed = _accounts().disable(email, actor=operator())
    except UserError as exc:
        raise _refused(exc) from exc
    typer.echo(f"disabled {email}" if changed else f"{email} was already disabled")


@users_app.command("enable")
def users_enable(email: Annotated[str, typer.Argument(help="the user's e-mail")]) -> None:
    """Let a disabled user sign in again (their unexpired, unrevoked tokens work again)."""
    try:
        changed = _accounts().enable(email, actor=operator())
    except UserError as exc:
        raise _refused(exc) from exc
    typer.echo(f"enabled {email}" if changed else f"{email} was not disabled")


@users_app.command("set-role")
def users_set_role(
    email: Annotated[str, typer.Argument(help="the user's e-mail")],
    role: Annotated[Role, typer.Argument(help=ROLES_HELP)],
) -> None:
    """Give a user another role; their sessions and tokens carry it from the next request."""
    try:
        user = _accounts().set_role(email, role, actor=operator())
    except UserError as exc:
        raise _refused(exc) from exc
    typer.echo(f"{user.email} is now {user.role}")
