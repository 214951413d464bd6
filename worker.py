"""The Closeout worker: runs the close-customer workflows and their activities."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.case_activities import CloseoutActivities
from closeout.archive import FilesystemArchiveStore
from closeout.cases.repository import CaseRepository
from closeout.constants import TASK_QUEUE
from closeout.crm.reference import ReferenceCrm
from closeout.db import Database
from closeout.mail import SmtpMailer
from closeout.settings import Settings
from closeout.temporal import connect
from workflows.close_customer import CloseCustomerWorkflow

WORKFLOWS: list[type] = [CloseCustomerWorkflow]


def build_activities(settings: Settings, db: Database) -> CloseoutActivities:
    """Wire the activities to their real adapters."""
    return CloseoutActivities(
        settings=settings,
        crm=ReferenceCrm(db),
        cases=CaseRepository(db),
        mailer=SmtpMailer(settings),
        archive=FilesystemArchiveStore(settings.archive_dir),
    )


def activity_functions(activities: CloseoutActivities) -> list[Callable[..., Any]]:
    """Every bound @activity.defn method of the activities object."""
    return [
        getattr(activities, name)
        for name, member in vars(type(activities)).items()
        if hasattr(member, "__temporal_activity_definition")
    ]


def build_worker(
    client: Client,
    activities: CloseoutActivities,
    executor: ThreadPoolExecutor,
    task_queue: str = TASK_QUEUE,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activity_functions(activities),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
    )


async def run_worker(settings: Settings) -> None:
    db = Database.from_url(settings.database_url)
    client = await connect(settings)
    with ThreadPoolExecutor(max_workers=32) as executor:
        worker = build_worker(client, build_activities(settings, db), executor)
        logging.getLogger("closeout.worker").info("worker polling task queue %s", TASK_QUEUE)
        await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run_worker(Settings()))
