"""A real SCIM 2.0 service (`scim2-server`) started on a loopback port for the whole session,
and its administrators' hands (ScimDirectory): for the connector contract and the integration
test of connected systems."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import PatchOp, PatchOperation

from tests.support import VENV_BIN, free_port, wait_until_answers

SCIM_TOKEN = "scim-test-token-" + uuid.uuid4().hex


@pytest.fixture(scope="session")
def scim_url() -> Iterator[str]:
    """A real SCIM 2.0 service holding users and groups in memory, bearer token required."""
    port = free_port()
    process = subprocess.Popen(
        [str(VENV_BIN / "scim2-server"), "--port", str(port), "--bearer-token", SCIM_TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    wait_until_answers(
        process,
        url + "ServiceProviderConfig",
        "the SCIM server",
        timeout=30,
        headers={"Authorization": f"Bearer {SCIM_TOKEN}"},
    )
    yield url
    process.terminate()
    process.wait(10)


@dataclass
class ScimDirectory:
    """The identity provider's side, as its administrators see it."""

    scim: SyncSCIMClient

    def organisation(self, customer_id: str, users: int, inactive: int = 0) -> list[str]:
        """A customer's organisation: a group whose externalId is the customer id."""
        user_model = self.scim.get_resource_model("User")
        group_model = self.scim.get_resource_model("Group")
        ids = []
        for n in range(users):
            created = self.scim.create(
                user_model(user_name=f"{customer_id}-{n}@example.test", active=n >= inactive)
            )
            ids.append(created.id)
        self.scim.create(
            group_model(
                display_name=f"Customer {customer_id}",
                external_id=customer_id,
                members=[{"value": i} for i in ids],
            )
        )
        return ids

    def members(self, customer_id: str) -> list[str]:
        group_model = self.scim.get_resource_model("Group")
        found = self.scim.query(
            group_model, query_parameters={"filter": f'externalId eq "{customer_id}"'}
        )
        return [m.value for g in found.resources for m in g.members or []]  # type: ignore[union-attr]

    def delete_user(self, user_id: str) -> None:
        self.scim.delete(self.scim.get_resource_model("User"), user_id)

    def set_active(self, user_id: str, active: bool) -> None:
        user_model = self.scim.get_resource_model("User")
        patch = PatchOp[user_model](  # type: ignore[valid-type]
            operations=[PatchOperation(op="replace", path="active", value=active)]
        )
        self.scim.modify(user_model, user_id, patch)

    def active(self, user_id: str) -> bool:
        user = self.scim.query(self.scim.get_resource_model("User"), user_id)
        return bool(user.active)  # type: ignore[union-attr]


@pytest.fixture
def scim_directory(scim_url: str) -> Iterator[ScimDirectory]:
    http = Client(base_url=scim_url, headers={"Authorization": f"Bearer {SCIM_TOKEN}"})
    scim = SyncSCIMClient(http)
    scim.discover()
    yield ScimDirectory(scim)
    http.close()
