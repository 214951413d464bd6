"""The sandbox imports a workflow's module for every run: it must find bytecode, not compile."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from closeout.temporal import cache_workflow_bytecode
from worker import WORKFLOWS

WORKFLOW_SOURCE = """
from temporalio import workflow


@workflow.defn
class TinyWorkflow:
    @workflow.run
    async def run(self) -> str:
        return "done"
"""


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The source files Python compiles while the test runs."""
    paths: list[str] = []
    original = SourceFileLoader.source_to_code

    def recording(self: SourceFileLoader, data: bytes, path: str, **kwargs: object) -> object:
        paths.append(str(path))
        return original(self, data, path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SourceFileLoader, "source_to_code", recording)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # as PYTHONDONTWRITEBYTECODE=1 does
    yield paths


async def sandbox_start(cls: type) -> None:
    """What the worker does for every run it starts: a fresh sandbox imports the module."""
    SandboxedWorkflowRunner().prepare_workflow(workflow._Definition.must_from_class(cls))


def import_tiny(tmp_path: Path, name: str) -> type:
    source = tmp_path / f"{name}.py"
    source.write_text(WORKFLOW_SOURCE)
    spec = importlib.util.spec_from_file_location(name, source)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.TinyWorkflow  # type: ignore[no-any-return]


async def test_without_cached_bytecode_every_run_compiles_the_module(
    tmp_path: Path, compiled: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = import_tiny(tmp_path, "tiny_uncached")
    compiled.clear()
    await sandbox_start(cls)
    await sandbox_start(cls)
    assert compiled.count(str(tmp_path / "tiny_uncached.py")) == 2


async def test_cached_bytecode_spares_the_sandbox_compiling(
    tmp_path: Path, compiled: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = import_tiny(tmp_path, "tiny_cached")
    written = cache_workflow_bytecode([cls])
    assert written == [importlib.util.cache_from_source(str(tmp_path / "tiny_cached.py"))]
    compiled.clear()
    await sandbox_start(cls)
    await sandbox_start(cls)
    assert str(tmp_path / "tiny_cached.py") not in compiled


async def test_the_workers_workflows_start_without_compiling(compiled: list[str]) -> None:
    cache_workflow_bytecode(WORKFLOWS)
    compiled.clear()
    for cls in WORKFLOWS:
        await sandbox_start(cls)
    # The workflows' modules and those of the parts they are built from (workflows/case/).
    workflow_files = {
        sys.modules[part.__module__].__file__
        for cls in WORKFLOWS
        for part in cls.__mro__
        if part is not object
    }
    assert any("/workflows/case/" in str(f) for f in workflow_files)
    assert workflow_files.isdisjoint(compiled)
    assert not [path for path in compiled if "/workflows/" in path]


async def test_an_unwritable_cache_is_reported_and_the_module_still_runs(
    tmp_path: Path,
    compiled: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "__pycache__").write_text("a file where the cache directory would go")
    cls = import_tiny(tmp_path, "tiny_readonly")
    assert cache_workflow_bytecode([cls]) == []
    assert "tiny_readonly compiles on every run" in caplog.text
    await sandbox_start(cls)
