"""The `closeout` command line."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from cli.audit import audit_app
from cli.check_config import check_config
from cli.connectors import connectors_app
from cli.deployment import deployment_app
from cli.inbound import inbound
from cli.keys import keys_app
from cli.policies import policies_app
from cli.suppression import suppression_app
from cli.tokens import tokens_app
from cli.users import users_app
from closeout.db import Database, upgrade
from closeout.demo import seed_demo
from closeout.dev_env import apply_dev_env
from closeout.observability.logs import configure_logging
from closeout.settings import Settings, refuse_exposed_dev_mode

if TYPE_CHECKING:
    from closeout.connectors.adapters import Connected

app = typer.Typer(
    help="Closeout: close customers right, from trigger to certified deletion.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tokens_app, name="tokens")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(suppression_app, name="suppression")
app.add_typer(policies_app, name="policies")
app.add_typer(deployment_app, name="deployment")
app.add_typer(connectors_app, name="connectors")
app.command()(inbound)
app.command("check-config")(check_config)


def load_settings(dev_env: bool = True, **overrides: object) -> Settings:
    # In a checkout where `closeout dev` ran, its configuration (var/dev.env) for the rest.
    applied = apply_dev_env() if dev_env else None
    if applied is not None:
        typer.echo(f"(dev configuration from {applied}, written by `closeout dev`)", err=True)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        typer.echo(f"error: invalid configuration: {messages}", err=True)
        raise typer.Exit(2) from exc


def connected_systems(settings: Settings) -> Connected:
    """The settings' connected systems, or a one-line error (exit 2) when they cannot be."""
    from closeout.connectors.adapters import SourceConflict, connected
    from closeout.crm.adapters import crm_from
    from closeout.db import Database
    from closeout.suppression.ledger import ledger_from

    db = Database.from_url(settings.database_url)
    ledger = ledger_from(settings)
    try:
        return connected(settings, crm_from(settings, db, ledger), ledger)
    except SourceConflict as exc:
        typer.echo(f"error: invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from exc


@contextmanager
def temporal_errors() -> Iterator[None]:
    """Temporal out of reach is a one-line error and exit code 1, not a traceback."""
    from closeout.temporal import TemporalUnreachable

    try:
        yield
    except TemporalUnreachable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def dev(
    demo_cases: Annotated[
        bool,
        typer.Option(
            "--demo-cases/--no-demo-cases",
            help="open a handful of demo cases in different stages, through the API",
        ),
    ] = True,
) -> None:
    """Run everything locally: Temporal dev server, worker, API, mail catcher, demo data."""
    from closeout.devstack import DevStack, DevStackError

    try:
        DevStack(load_settings(dev_env=False, dev_mode=True), demo_cases=demo_cases).run()
    except DevStackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def worker() -> None:
    """Run a worker for the close-customer workflows and activities."""
    from worker import run_worker

    settings = load_settings()
    configure_logging(settings.log_format)
    with temporal_errors():
        asyncio.run(run_worker(settings))


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="defaults to CLOSEOUT_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="defaults to CLOSEOUT_API_PORT")] = None,
) -> None:
    """Serve the JSON API."""
    import uvicorn

    from api.app import create_app

    settings = load_settings()
    host = host or settings.api_host
    try:
        refuse_exposed_dev_mode(settings.dev_mode, host)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_format)
    json_logs = settings.log_format == "json"
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port or settings.api_port,
        # JSON lines: uvicorn's own loggers go through the root handler configured above.
        log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
    )


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the schema migrations."""
    settings = load_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {settings.database_url} is at {revision}")


@app.command("seed-demo")
def seed_demo_command(count: Annotated[int, typer.Option(min=1, max=10_000)] = 50) -> None:
    """Seed the reference CRM with demo customers (once; a seeded CRM is left alone)."""
    settings = load_settings()
    upgrade(settings.database_url)
    added = seed_demo(Database.from_url(settings.database_url), count=count)
    typer.echo(
        f"seeded {added} demo customers"
        if added
        else "the CRM already holds customers: nothing seeded"
    )


@app.command()
def detect(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only show who would be flagged, and why")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Run the detection rules over the CRM now (the daily schedule does the same)."""
    from cli.detection import dry_run_report, run_detection

    settings = load_settings()
    if dry_run:
        dry_run_report(settings, as_json)
    else:
        with temporal_errors():
            asyncio.run(run_detection(settings, as_json))


def main() -> None:  # pragma: no cover - console entry point
    """The `closeout` command. It ends without the interpreter's teardown: a command that
    spoke to Temporal leaves the SDK's runtime threads behind, and those can abort a process
    while it finalises ("PyGILState_Release", temporalio/sdk-python#300), turning an answer
    already given into a crash. Output is flushed first; the exit code is the command's."""
    code: int = 0
    try:
        app(prog_name="closeout")
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            code = 1
        else:
            code = exc.code or 0
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover - `python -m cli.main`, as `closeout dev` runs it
    main()
