"""`closeout deployment …`: which build of the workers new cases run on, and a release."""

from __future__ import annotations

import asyncio

import typer
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from closeout.deployment import DEPLOYMENT, deployment_state, make_current
from closeout.temporal import connect

deployment_app = typer.Typer(
    help="The workers' builds (Temporal Worker Deployment 'closeout').", no_args_is_help=True
)

RETENTION_RUNNING = "WorkflowType = 'RetentionWorkflow' AND ExecutionStatus = 'Running'"


@deployment_app.command("show")
def show() -> None:
    """The current build and every build the deployment has seen."""
    from cli.main import load_settings, temporal_errors

    async def run() -> None:
        client = await connect(load_settings())
        state = await deployment_state(client)
        typer.echo(f"deployment {DEPLOYMENT}: current build {state.current or '(none)'}")
        for build in state.builds:
            typer.echo(f"  {build}{'  (current)' if build == state.current else ''}")

    with temporal_errors():
        asyncio.run(run())


@deployment_app.command("set-current")
def set_current(
    build: str,
    move_retention: bool = typer.Option(
        True, help="wake every case in retention so it moves to the build now"
    ),
) -> None:
    """Make BUILD the build new cases start on. Cases in their closing stages finish on the
    build they started on; cases in retention move to BUILD (now, unless --no-move-retention:
    then at their next renewal)."""
    from cli.main import load_settings, temporal_errors

    async def run() -> None:
        from workflows.retention_workflow import RetentionWorkflow

        client = await connect(load_settings())
        state = await deployment_state(client)
        if build not in state.builds:
            known = ", ".join(state.builds) or "none yet"
            typer.echo(
                f"error: no worker of build {build!r} has polled deployment {DEPLOYMENT} "
                f"(builds seen: {known}); start its workers first",
                err=True,
            )
            raise typer.Exit(2)
        await make_current(client, build)
        typer.echo(f"build {build} is current")
        if not move_retention:
            return
        woken = 0
        async for execution in client.list_workflows(RETENTION_RUNNING):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            try:
                await handle.execute_update(RetentionWorkflow.renew)
                woken += 1
            except (WorkflowUpdateFailedError, RPCError):
                continue  # it ended or continued meanwhile: it runs on the new build anyway
        typer.echo(f"{woken} case(s) in retention woken to move to build {build}")

    with temporal_errors():
        asyncio.run(run())
