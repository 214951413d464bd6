"""Workers as a Temporal Worker Deployment: every worker of a release polls as one version
(`closeout`, its build id) of the deployment, and the deployment's current version is the one
new cases start on.

A case's closing run stays on the build it started on (pinned); when it reaches retention, and
each time its retention run continues as new, it moves to the current build. So a release
goes out by starting the new build's workers beside the old ones and making it current; the
old build's workers run until the cases pinned to them have moved on (README: "Upgrading").
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from dataclasses import dataclass

from temporalio.api.enums.v1 import RoutingConfigUpdateState
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from closeout.settings import Settings

DEPLOYMENT = "closeout"


def build_id(settings: Settings) -> str:
    """CLOSEOUT_BUILD_ID, or the installed package's version."""
    if settings.build_id:
        return settings.build_id
    try:
        return importlib.metadata.version("closeout")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a bare tree
        return "0+unknown"


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """How the worker joins the deployment; None when worker versioning is off."""
    if not settings.worker_versioning:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(DEPLOYMENT, build_id(settings)),
        use_worker_versioning=True,
        # Every workflow type is pinned: a run finishes on the build it started on. (Given
        # here, not per type: a type that declares a behaviour cannot run on an unversioned
        # worker against a server with worker deployments.)
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


@dataclass(frozen=True)
class DeploymentState:
    current: str | None
    builds: list[str]
    # The task queues route by the current routing (a change reaches them a moment later).
    propagated: bool = True


async def deployment_state(client: Client) -> DeploymentState:
    """The current build and every build the deployment has seen (none before a worker ran)."""
    try:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=DEPLOYMENT)
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return DeploymentState(None, [])
        raise
    info = described.worker_deployment_info
    current = info.routing_config.current_deployment_version.build_id or None
    builds = [s.deployment_version.build_id for s in info.version_summaries]
    propagating = (
        info.routing_config_update_state
        == RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_IN_PROGRESS
    )
    return DeploymentState(current, builds, propagated=not propagating)


async def make_current(client: Client, build: str, within: float = 60.0) -> None:
    """New cases start on `build`; cases in retention move to it at their next renewal.
    Returns once the task queues route by it (a workflow task started before that still
    sees the old current build)."""
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=DEPLOYMENT,
            build_id=build,
            identity=client.identity,
            allow_no_pollers=True,
        )
    )
    deadline = time.monotonic() + within
    while not (state := await deployment_state(client)).propagated or state.current != build:
        if time.monotonic() > deadline:
            raise TimeoutError(f"build {build} was made current but has not reached the queues")
        await asyncio.sleep(0.2)


async def make_current_if_none(client: Client, build: str) -> bool:
    """A first install: the first build to run becomes current. True when it was made so."""
    if (await deployment_state(client)).current is not None:
        return False
    await make_current(client, build)
    return True
