"""The Closeout worker: runs the close-customer workflows and their activities."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker, WorkerDeploymentConfig

from activities.case_activities import CloseoutActivities
from activities.detection import DetectionActivities
from activities.expired_data import HousekeepingActivities
from activities.notice_sending import NoticeActivities
from activities.outcomes import reported
from activities.retention import RetentionActivities
from activities.staff_notices import StaffActivities
from closeout.cases.repository import case_repository
from closeout.certificates.repository import Certificates
from closeout.connectors.adapters import connected
from closeout.constants import TASK_QUEUE
from closeout.crm.adapters import crm_from
from closeout.crypto.vault import vault_from
from closeout.db import Database
from closeout.deployment import build_id, deployment_config, make_current_if_none
from closeout.heartbeats import HeartbeatWhileRunning
from closeout.mail import SmtpMailer
from closeout.observability.logs import configure_logging
from closeout.operations_settings import WORKER_CACHED_WORKFLOWS
from closeout.settings import Settings
from closeout.suppression.enforcement import SuppressionEnforcer
from closeout.suppression.ledger import ledger_from
from closeout.temporal import connect, worker_runtime, workflow_runner
from closeout.users.accounts import Accounts
from workflows.close_customer import CloseCustomerWorkflow
from workflows.detection import DetectionWorkflow
from workflows.housekeeping import HousekeepingWorkflow
from workflows.retention_workflow import RetentionWorkflow
from workflows.schedules import ensure_schedules

WORKFLOWS: list[type] = [
    CloseCustomerWorkflow,
    RetentionWorkflow,
    HousekeepingWorkflow,
    DetectionWorkflow,
]
# The workflows' own code imported once per process, not once per run, with the packages it
# imports (always passed through).
WORKFLOW_RUNNER = workflow_runner("workflows", "activities", "closeout")


@dataclass(frozen=True)
class Activities:
    """The activity objects a worker serves, each bound to its real adapters."""

    cases: CloseoutActivities
    notices: NoticeActivities
    staff: StaffActivities
    housekeeping: HousekeepingActivities
    detection: DetectionActivities
    retention: RetentionActivities

    def functions(self) -> list[Callable[..., Any]]:
        """Every bound @activity.defn method of the activity objects (and of their parts)."""
        objects = (self.cases, self.notices, self.staff, self.housekeeping, self.detection,
                   self.retention)  # fmt: skip
        return [
            getattr(obj, name)
            for obj in objects
            for name in dict.fromkeys(n for cls in type(obj).__mro__ for n in vars(cls))
            if hasattr(getattr(type(obj), name), "__temporal_activity_definition")
        ]


def build_activities(settings: Settings, db: Database, client: Client | None = None) -> Activities:
    """Wire the activities to their real adapters (and the Temporal client detection uses to
    start cases; connected on first use when not given)."""
    clients: list[Client] = [client] if client is not None else []

    async def temporal() -> Client:
        if not clients:
            clients.append(await connect(settings))
        return clients[0]

    cases = case_repository(settings, db)
    mailer = SmtpMailer(settings)
    vault = vault_from(settings, db)
    archive = vault.store
    ledger = ledger_from(settings)
    crm = crm_from(settings, db, ledger)
    systems = connected(settings, crm, ledger)
    certificates = Certificates(db, settings.record_keys())
    return Activities(
        cases=CloseoutActivities(
            settings=settings,
            source=reported(systems.source),
            access=systems.access,
            data=systems.data,
            cases=cases,
            vault=vault,
            certificates=certificates,
            ledger=ledger,
        ),
        notices=NoticeActivities(settings, reported(systems.source), cases, mailer),
        staff=StaffActivities(settings, cases, Accounts(db, dev_mode=settings.dev_mode), mailer),
        housekeeping=HousekeepingActivities(
            settings,
            cases,
            archive,
            SuppressionEnforcer(ledger, crm, vault, cases),
            temporal,
        ),
        detection=DetectionActivities(
            settings, db, reported(systems.source), temporal, systems.detection
        ),
        retention=RetentionActivities(systems.data, cases, vault, certificates),
    )


def build_worker(
    client: Client,
    activities: Activities,
    executor: ThreadPoolExecutor,
    task_queue: str = TASK_QUEUE,
    cached_workflows: int = WORKER_CACHED_WORKFLOWS,
    interceptors: Sequence[Interceptor] = (),
    deployment: WorkerDeploymentConfig | None = None,
) -> Worker:
    """The worker of every close-customer, housekeeping and detection workflow. With
    `cached_workflows=0` each workflow task replays the case's history (no sticky queue), as
    the time-skipping test server needs when a worker is replaced mid-case. `interceptors` run
    inside the worker's own heartbeats. `deployment`: the Worker Deployment version it polls
    as (None: unversioned, as on the time-skipping test server)."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER,
        activities=activities.functions(),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        max_cached_workflows=cached_workflows,
        interceptors=[HeartbeatWhileRunning(), *interceptors],
        deployment_config=deployment,
    )


async def run_worker(settings: Settings, interceptors: Sequence[Interceptor] = ()) -> None:
    db = Database.from_url(settings.database_url, settings.database_pool_size)
    client = await connect(settings, runtime=worker_runtime(settings))
    await ensure_schedules(client, settings)
    log = logging.getLogger("closeout.worker")
    deployment = deployment_config(settings)
    if deployment is not None:
        build = build_id(settings)
        # A first install makes its build current; a later build waits for a release
        # (`closeout deployment set-current`).
        if await make_current_if_none(client, build):
            log.info("build %s is the first of deployment closeout: made current", build)
    with ThreadPoolExecutor(max_workers=settings.worker_activity_slots) as executor:
        worker = build_worker(
            client,
            build_activities(settings, db, client),
            executor,
            cached_workflows=settings.worker_cached_workflows,
            interceptors=interceptors,
            deployment=deployment,
        )
        log.info(
            "worker polling task queue %s%s",
            TASK_QUEUE,
            f" as build {build_id(settings)} of deployment closeout" if deployment else "",
        )
        await worker.run()


if __name__ == "__main__":
    settings = Settings()
    configure_logging(settings.log_format)
    asyncio.run(run_worker(settings))
