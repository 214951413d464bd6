"""The Temporal Schedules the worker keeps: hourly housekeeping, the daily detection run."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from closeout.constants import DETECTION_SCHEDULE_ID, HOUSEKEEPING_SCHEDULE_ID, TASK_QUEUE
from closeout.contracts import DetectionInput
from closeout.settings import Settings
from workflows.detection import DetectionWorkflow
from workflows.housekeeping import HousekeepingWorkflow


def housekeeping_schedule(task_queue: str = TASK_QUEUE) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            # By type name (the class's): passing the method trips mypy's generics elsewhere.
            HousekeepingWorkflow.__name__,
            id=HOUSEKEEPING_SCHEDULE_ID,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def detection_schedule(settings: Settings, task_queue: str = TASK_QUEUE) -> Schedule:
    at = settings.detection.daily_at
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DetectionWorkflow.__name__,
            DetectionInput(page_size=settings.detection.page_size),
            id=DETECTION_SCHEDULE_ID,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(at.hour)],
                    minute=[ScheduleRange(at.minute)],
                    second=[ScheduleRange(0)],
                )
            ],
            time_zone_name=settings.detection.time_zone,
        ),
        # A run still going when the next is due finishes first; the next one is skipped.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedules(
    client: Client, settings: Settings, task_queue: str = TASK_QUEUE
) -> None:
    """Create the schedules, or bring an existing one to what the settings say now."""
    for schedule_id, schedule in (
        (HOUSEKEEPING_SCHEDULE_ID, housekeeping_schedule(task_queue)),
        (DETECTION_SCHEDULE_ID, detection_schedule(settings, task_queue)),
    ):
        try:
            await client.create_schedule(schedule_id, schedule)
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, wanted: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=wanted)

            await client.get_schedule_handle(schedule_id).update(replace)
