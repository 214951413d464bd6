"""`closeout check-config`: the production configuration checked, one line per problem."""

from __future__ import annotations

from typing import Annotated

import typer

from closeout.config_check import Check, check_configuration, failed
from closeout.dev_env import apply_dev_env


def check_config(
    skip: Annotated[
        list[Check] | None,
        typer.Option(help="a check to leave out (repeat for more), e.g. temporal"),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="warnings fail too (dev mode, a URL without https)")
    ] = False,
) -> None:
    """Check the configuration: settings, storage, ledger, database schema, Temporal (exit 1
    on a problem)."""
    applied = apply_dev_env()
    if applied is not None:
        typer.echo(f"(dev configuration from {applied}, written by `closeout dev`)", err=True)
    findings = check_configuration(skip or ())
    for finding in findings:
        typer.echo(finding.line, err=True)
    if failed(findings, strict):
        raise typer.Exit(1)
    checked = [c.value for c in Check if c not in set(skip or ())]
    typer.echo(f"ok: {', '.join(checked)}" + (f" ({len(findings)} warnings)" if findings else ""))
