"""A release on the real dev server: cases started under build 1, build 2 made current.

Closing stages finish on the build they started on (pinned); a case in retention moves to the
new build when it continues as new (woken by `closeout deployment set-current`), and a case
that reaches retention after the release continues into it on the new build.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from closeout.constants import case_workflow_id
from tests.integration.helpers import decide, new_customer, open_case, open_task, poll, wait_case
from tests.integration.stack import Stack, start_stack
from tests.support import VENV_BIN

pytestmark = pytest.mark.integration

OLD, NEW = "1.0.0", "2.0.0"


@pytest.fixture(scope="module")
def upgrade_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(Path(tmp_path_factory.mktemp("upgrade")), CLOSEOUT_BUILD_ID=OLD)


async def _runs(client: Client, workflow_id: str) -> list[tuple[str, set[str]]]:
    """Each run of the workflow, oldest first: its type and the builds that completed its
    workflow tasks."""
    runs = []
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        history = await client.get_workflow_handle(
            workflow_id, run_id=execution.run_id
        ).fetch_history()
        builds = {
            e.workflow_task_completed_event_attributes.deployment_version.build_id
            for e in history.events
            if e.HasField("workflow_task_completed_event_attributes")
        }
        runs.append((execution.start_time, execution.workflow_type, builds))
    return [(kind, builds) for _, kind, builds in sorted(runs)]


def runs(stack: Stack, customer: str) -> list[tuple[str, set[str]]]:
    async def read() -> list[tuple[str, set[str]]]:
        return await _runs(await stack.temporal(), case_workflow_id(customer))

    return asyncio.run(read())


def closeout(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "closeout"), *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_release_moves_retention_to_the_new_build_and_leaves_closing_stages_pinned(
    upgrade_stack: Stack,
) -> None:
    stack = upgrade_stack
    with stack.client("owner") as api, stack.client("compliance") as compliance:
        # Under build 1: a case in retention (a hold keeps it there), one at approval.
        kept, closing = new_customer(stack), new_customer(stack)
        kept_case = open_case(api, kept)["case_id"]
        decide(api, open_task(api, kept_case, "win_back")["id"], "failed")
        decide(api, open_task(api, kept_case, "approval")["id"], "approve", comment="gone")
        wait_case(api, kept_case, stage="retention")
        held = compliance.post(f"/api/cases/{kept_case}/legal-holds", json={"reason": "audit"})
        assert held.status_code == 201, held.text
        closing_case = open_case(api, closing)["case_id"]
        decide(api, open_task(api, closing_case, "win_back")["id"], "failed")
        approval = open_task(api, closing_case, "approval")

        # Build 2 starts beside build 1; nothing moves until it is made current.
        refused = closeout(stack, "deployment", "set-current", "9.9.9")
        assert refused.returncode == 2, refused.stderr[-4000:] + refused.stdout[-2000:]
        assert "no worker of build '9.9.9'" in refused.stderr
        stack.start_build_worker(NEW)
        poll(lambda: NEW in closeout(stack, "deployment", "show").stdout, "build 2 polling")
        released = closeout(stack, "deployment", "set-current", NEW)
        assert released.returncode == 0, released.stderr
        assert f"build {NEW} is current" in released.stdout
        assert "1 case(s) in retention woken" in released.stdout

        # The case in retention continued as new on build 2; the closing one stays on 1.
        def kept_moved() -> bool:
            return runs(stack, kept)[-1][1] == {NEW}

        poll(kept_moved, f"the case in retention to move to build 2: {runs(stack, kept)}")
        assert runs(stack, closing) == [("CloseCustomerWorkflow", {OLD})]

        # Both finish right: the closing case through its stages on build 1, then into
        # retention on build 2; the held case deleted on build 2 once the hold goes.
        assert decide(api, approval["id"], "approve", comment="gone").status_code == 202
        hold_id = held.json()["hold_id"]
        assert (
            compliance.post(
                f"/api/cases/{kept_case}/legal-holds/{hold_id}/release",
                json={"reason": "audit closed"},
            ).status_code
            == 202
        )
        assert wait_case(api, kept_case, outcome="deleted")["stage"] == "closed"
        assert wait_case(api, closing_case, outcome="deleted")["stage"] == "closed"
        # A case opened after the release runs on build 2 from its start.
        fresh = new_customer(stack)
        fresh_case = open_case(api, fresh)["case_id"]
        open_task(api, fresh_case, "win_back")

    kept_runs = runs(stack, kept)
    assert kept_runs[0] == ("CloseCustomerWorkflow", {OLD})
    assert kept_runs[1] == ("RetentionWorkflow", {OLD})  # entered retention before the release
    assert all(kind == "RetentionWorkflow" and builds == {NEW} for kind, builds in kept_runs[2:])
    closing_runs = runs(stack, closing)
    assert closing_runs[0] == ("CloseCustomerWorkflow", {OLD})
    assert all(builds == {NEW} for _, builds in closing_runs[1:]) and len(closing_runs) >= 2
    assert runs(stack, fresh) == [("CloseCustomerWorkflow", {NEW})]


@pytest.fixture(scope="module")
def unversioned_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    path = Path(tmp_path_factory.mktemp("unversioned"))
    yield from start_stack(path, CLOSEOUT_WORKER_VERSIONING="false")


def test_workers_without_versioning_run_cases_on_a_server_that_has_it(
    unversioned_stack: Stack,
) -> None:
    """CLOSEOUT_WORKER_VERSIONING=false: the worker polls unversioned, joins no deployment,
    and cases run through to retention as before."""
    stack = unversioned_stack
    with stack.client("owner") as api:
        customer = new_customer(stack)
        case_id = open_case(api, customer)["case_id"]
        decide(api, open_task(api, case_id, "win_back")["id"], "failed")
        decide(api, open_task(api, case_id, "approval")["id"], "approve", comment="gone")
        wait_case(api, case_id, stage="retention")
    assert runs(stack, customer)[0] == ("CloseCustomerWorkflow", {""})
    assert "current build (none)" in closeout(stack, "deployment", "show").stdout
