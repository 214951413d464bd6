"""The worker's sandbox imports the workflows' modules once per process, not once per run."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from closeout.temporal import DATA_CONVERTER
from worker import WORKFLOW_RUNNER, WORKFLOWS
from workflows.close_customer import CloseCustomerWorkflow
from workflows.retention_workflow import RetentionWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The source files whose module code runs while the test runs."""
    paths: list[str] = []
    original = SourceFileLoader.exec_module

    def recording(self: SourceFileLoader, module: ModuleType) -> None:
        paths.append(str(self.path))
        original(self, module)

    monkeypatch.setattr(SourceFileLoader, "exec_module", recording)
    yield paths


async def start_runs(runner: SandboxedWorkflowRunner) -> None:
    """What the worker does for every run it starts or replays: a sandbox for the workflow."""
    for cls in WORKFLOWS:
        runner.prepare_workflow(workflow._Definition.must_from_class(cls))


async def test_the_default_sandbox_runs_every_workflow_module_again_for_each_run(
    executed: list[str],
) -> None:
    await start_runs(SandboxedWorkflowRunner())
    ran = {Path(p).relative_to(ROOT).as_posix() for p in executed if "/workflows/" in p}
    assert {"workflows/close_customer.py", "workflows/case/replies.py"} <= ran


async def test_the_workers_sandbox_runs_no_workflow_module_for_a_run(
    executed: list[str],
) -> None:
    await start_runs(WORKFLOW_RUNNER)
    await start_runs(WORKFLOW_RUNNER)
    assert [p for p in executed if "/workflows/" in p] == []


def _module_state() -> dict[str, str]:
    """Every module-level name of the workflows' package, as it reads."""
    return {
        f"{name}.{attr}": repr(value)
        for name, module in sorted(sys.modules.items())
        if name == "workflows" or name.startswith("workflows.")
        for attr, value in sorted(vars(module).items())
        if not attr.startswith("__")
    }


async def test_runs_leave_the_shared_modules_as_they_found_them() -> None:
    """One import serves every run only if no run changes what the modules hold."""
    before = _module_state()
    replayer = Replayer(
        workflows=[CloseCustomerWorkflow, RetentionWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=WORKFLOW_RUNNER,
    )

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for path in HISTORIES:
            yield WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))

    results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
    assert results.replay_failures == {}
    assert len(HISTORIES) > 40
    assert _module_state() == before
