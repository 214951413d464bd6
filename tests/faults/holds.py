"""Holding an activity of a chosen stage of one case, so the worker can be killed inside it.

The worker under test runs with `HoldAtStage` (see `tests/faults/worker.py`). The test asks for
a hold by creating a file `<workflow id>@<stage>@<moment>` in the hold directory; when an
activity of that stage of that case runs, the interceptor writes `<hold>.reached` and waits
until the hold file is gone. `before` holds the activity before it does anything; `after`
holds it once its effects are written, before Temporal hears that it completed: the window
in which a retry finds the work already done.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from closeout.domain import DataCategory, NoticeKind, TaskKind

# Every stage of a case the fault matrix kills a worker in, in the order a case meets them.
STAGES: tuple[str, ...] = (
    "win_back",
    "notice",
    "approval",
    "backup",
    "revocation",
    "archive",
    "split",
    *(f"deletion:{c}" for c in DataCategory),
    "verification",
    "certificate",
)

_NOTICE_STAGES = {NoticeKind.WIN_BACK: "win_back", NoticeKind.ADVANCE_NOTICE: "notice"}
_STEP_STAGES = {
    "backup_customer_data": "backup",
    "revoke_access": "revocation",
    "archive_customer": "archive",
    "split_archive": "split",
    "verify_categories_deleted": "verification",
    # The last verification issues the deletion certificate.
    "verify_deletion": "certificate",
}


class Moment(StrEnum):
    BEFORE = "before"
    AFTER = "after"


def stages_of(activity_type: str, arg: Any) -> set[str]:
    """The stages an activity belongs to (a deletion that takes several categories at once
    belongs to each one's stage)."""
    if activity_type == "send_notice":
        stage = _NOTICE_STAGES.get(arg.kind)
        return {stage} if stage else set()
    if activity_type == "open_task":
        return {"approval"} if arg.kind == TaskKind.APPROVAL else set()
    if activity_type in ("delete_categories", "delete_customer_data"):
        return {f"deletion:{c}" for c in arg.categories}
    stage = _STEP_STAGES.get(activity_type)
    return {stage} if stage else set()


def hold_name(workflow_id: str, stage: str, moment: Moment) -> str:
    return f"{workflow_id}@{stage}@{moment}"


class HoldAtStage(Interceptor):
    """Holds the activities the hold directory names; does nothing to any other."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Holding(next, self.directory)


class _Holding(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, directory: Path) -> None:
        super().__init__(next)
        self.directory = directory

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        stages = stages_of(info.activity_type, input.args[0]) if input.args else set()
        await self._hold(info.workflow_id or "", stages, Moment.BEFORE)
        result = await self.next.execute_activity(input)
        await self._hold(info.workflow_id or "", stages, Moment.AFTER)
        return result

    async def _hold(self, workflow_id: str, stages: set[str], moment: Moment) -> None:
        for stage in stages:
            hold = self.directory / hold_name(workflow_id, stage, moment)
            if hold.exists():
                hold.with_name(hold.name + ".reached").touch()
                # The test removes the file from another process: nothing to wait on but it.
                while hold.exists():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
