"""Stored histories of representative cases must replay on the current workflow code.

A failure here means a change would break running cases: guard it with `workflow.patched`
or a new workflow type instead of editing the stored histories.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from closeout.temporal import DATA_CONVERTER
from worker import WORKFLOW_RUNNER
from workflows.case.state import (
    PATCH_CONTACT_REVIEW,
    PATCH_DATA_EXPORT,
    PATCH_DECIDE_AFTER_RECORDED,
    PATCH_DELETION_CONFIRMATION,
    PATCH_OWN_REQUEST,
    PATCH_REMINDER,
    PATCH_RETENTION_BY_CATEGORY,
    PATCH_RETENTION_WORKFLOW,
    PATCH_TASK_ESCALATION,
)
from workflows.close_customer import CloseCustomerWorkflow
from workflows.retention_workflow import RetentionWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_stored() -> None:
    scenarios = {"deleted_with_hold", "four_eyes_then_cancelled", "reactivated"}
    stored = {p.stem for p in HISTORIES}
    assert stored >= scenarios  # recorded before any patch
    assert stored >= {f"{s}-decide-after-recorded" for s in scenarios}


def _patch_ids(path: Path) -> set[str]:
    ids = set()
    for event in json.loads(path.read_text())["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_patch":
            for payload in marker["details"]["patch-data"]["payloads"]:
                ids.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return ids


# The patches each set of stored histories was recorded with, by file-name suffix.
PATCHES_BY_SUFFIX = {
    "-decide-after-recorded": {PATCH_DECIDE_AFTER_RECORDED},
    "-contact-review": {PATCH_DECIDE_AFTER_RECORDED, PATCH_CONTACT_REVIEW},
    "-reminder": {PATCH_DECIDE_AFTER_RECORDED, PATCH_REMINDER},
    "-data-export": {PATCH_DECIDE_AFTER_RECORDED, PATCH_DATA_EXPORT},
    "-task-escalation": {PATCH_DECIDE_AFTER_RECORDED, PATCH_REMINDER, PATCH_TASK_ESCALATION},
    "-deletion-confirmation": {
        PATCH_DECIDE_AFTER_RECORDED,
        PATCH_REMINDER,
        PATCH_TASK_ESCALATION,
        PATCH_DELETION_CONFIRMATION,
    },
    "-retention-by-category": {
        PATCH_DECIDE_AFTER_RECORDED,
        PATCH_REMINDER,
        PATCH_TASK_ESCALATION,
        PATCH_RETENTION_BY_CATEGORY,
    },
    # A duplicate record reviewed (trigger data_quality): no closing stage, no patch of its own.
    "-data-review": {PATCH_DECIDE_AFTER_RECORDED, PATCH_TASK_ESCALATION},
    "-retention-workflow": {
        PATCH_DECIDE_AFTER_RECORDED,
        PATCH_REMINDER,
        PATCH_TASK_ESCALATION,
        PATCH_RETENTION_WORKFLOW,
    },
    # A customer's own request: no win-back or notice (so no reminder), its own patch.
    "-own-request": {
        PATCH_DECIDE_AFTER_RECORDED,
        PATCH_TASK_ESCALATION,
        PATCH_RETENTION_BY_CATEGORY,
        PATCH_RETENTION_WORKFLOW,
        PATCH_OWN_REQUEST,
    },
    # Replies by mail read at three stages: a new Update and task kind, no patch of their own.
    "-replies": {
        PATCH_DECIDE_AFTER_RECORDED,
        PATCH_REMINDER,
        PATCH_TASK_ESCALATION,
        PATCH_RETENTION_WORKFLOW,
    },
}
# Patches the by-category and confirming scenarios add to that set.
BY_SCENARIO = {
    "deleted_by_category": {PATCH_RETENTION_BY_CATEGORY},
}


def test_patched_histories_carry_their_patch_markers() -> None:
    stems = {p.stem for p in HISTORIES}
    assert {
        "refused_notice_reviewed-contact-review",
        "deleted_with_hold-reminder",
        "data_export_then_cancelled-data-export",
        "escalated_after_claims-task-escalation",
        "deleted_with_confirmation-deletion-confirmation",
        "deleted_by_category-retention-by-category",
        "data_review_merged-data-review",
        "replies_read-replies",
        "own_request_extended-own-request",
    } <= stems
    for path in HISTORIES:
        if ".run" in path.stem:
            continue  # a later run of a case: see the test below
        expected = next(
            (
                patches
                for suffix, patches in PATCHES_BY_SUFFIX.items()
                if path.stem.endswith(suffix)
            ),
            set(),
        )
        if path.stem.endswith("-retention-workflow"):
            expected = expected | BY_SCENARIO.get(path.stem.split("-")[0], set())
        assert _patch_ids(path) == expected, path.name


def _workflow_type(path: Path) -> str:
    first = json.loads(path.read_text())["events"][0]
    return str(first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"])


def test_cases_in_retention_continue_as_new_into_retention_runs() -> None:
    """Since the retention-workflow patch, a case's closing run ends by continuing as new into
    RetentionWorkflow, and a case kept past a year renews itself as another run of it."""
    closing = [p for p in HISTORIES if p.stem.endswith("-retention-workflow")]
    assert {p.stem.split("-")[0] for p in closing} >= {
        "deleted_with_hold",
        "reactivated",
        "deleted_by_category",
    }
    for path in closing:
        events = json.loads(path.read_text())["events"]
        continued = events[-1]["workflowExecutionContinuedAsNewEventAttributes"]
        assert continued["workflowType"]["name"] == "RetentionWorkflow", path.name
        later = sorted(HISTORIES[0].parent.glob(f"{path.stem}.run*.json"))
        assert later, path.name
        assert {_workflow_type(p) for p in later} == {"RetentionWorkflow"}
    renewed = [p for p in HISTORIES if p.stem.endswith(".run3")]
    assert renewed, "no case recorded a yearly renewal of its retention run"


# The worker's sandbox, the workflows' modules imported once, and the SDK's default one, which
# imports them afresh for every run and fails a call to a restricted module (`datetime.now`,
# `random`) made anywhere in them.
RUNNERS = {"worker": WORKFLOW_RUNNER, "default-sandbox": SandboxedWorkflowRunner()}


@pytest.mark.parametrize("runner", RUNNERS.values(), ids=RUNNERS.keys())
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path, runner: SandboxedWorkflowRunner) -> None:
    stored = json.loads(path.read_text())  # noqa: ASYNC240 - a small file, read once
    history = WorkflowHistory.from_json("close-customer-replay", stored)
    replayer = Replayer(
        workflows=[CloseCustomerWorkflow, RetentionWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=runner,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
