"""An identity provider's users as an access provider, over SCIM 2.0 (RFC 7643, RFC 7644).

A customer's organisation is the SCIM Group whose `externalId` (or another attribute, by
configuration) is the customer's id in Closeout; its members are the customer's users.
Revoking sets every active member inactive (`active` false: the provider ends their sessions
and refuses their sign-ins), restoring sets the members active again, and what still lets the
customer in is the count of active members. Users are deactivated, never deleted: the
identity provider's own retention rules decide when they go.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from httpx2 import Client, Response, TimeoutException
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_client.errors import RequestNetworkException, SCIMClientException
from scim2_models import PatchOp, PatchOperation, SearchRequest
from scim2_models.exceptions import NotFoundException, SCIMException

from closeout.connectors.errors import (
    ConnectorTimeout,
    ConnectorUnavailable,
    CredentialRefused,
    RateLimited,
    UnknownCustomer,
    retry_after_seconds,
)


def _quoted(value: str) -> str:
    """A string as a SCIM filter's literal (RFC 7644 §3.4.2.2: JSON string rules)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ScimAccess:
    """Deactivates and restores the users of a customer's organisation in a SCIM 2.0 service."""

    def __init__(
        self,
        name: str,
        url: str,
        token: str | None,
        timeout: float = 10.0,
        group_attribute: str = "externalId",
    ) -> None:
        self.name = name
        self.group_attribute = group_attribute
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = Client(
            base_url=url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            event_hooks={"response": [self._refusal]},
            trust_env=False,  # no proxy or .netrc credentials picked up from the environment
        )
        self._scim = SyncSCIMClient(self._http)
        self._discovered = False
        self._discovery = threading.Lock()  # one object serves every activity thread

    def _refusal(self, response: Response) -> None:
        """The answers every call treats alike, before the SCIM client reads them."""
        status = response.status_code
        if status in (401, 403):
            raise CredentialRefused(self.name, f"the credential was refused ({status})")
        if status == 429:
            raise RateLimited(self.name, retry_after_seconds(response.headers.get("Retry-After")))
        if status >= 500:
            raise ConnectorUnavailable(self.name, f"the service failed ({status})")

    @contextmanager
    def _calls(self, fresh: bool = False) -> Iterator[SyncSCIMClient]:
        """The SCIM client, the service discovered first (afresh if asked); the service's
        failures as typed errors."""
        try:
            with self._discovery:
                if fresh or not self._discovered:
                    scim = SyncSCIMClient(self._http)
                    scim.discover()
                    self._scim, self._discovered = scim, True
                scim = self._scim
            yield scim
        except RequestNetworkException as exc:
            if isinstance(exc.__cause__, TimeoutException):
                raise ConnectorTimeout(self.name, "no answer in time") from exc
            raise ConnectorUnavailable(self.name, f"unreachable: {exc.__cause__ or exc}") from exc
        except (SCIMException, SCIMClientException) as exc:
            raise ConnectorUnavailable(self.name, f"unexpected answer: {exc}") from exc

    def check(self) -> list[str]:
        """Discover the service afresh (its configuration, schemas and resource types, with
        the token) and say which of what a case needs it does not announce."""
        with self._calls(fresh=True) as scim:
            config = scim.provider.config
            models = {m.__name__.split("[")[0] for m in scim.provider.models}
        missing = [f"the {kind} resource type" for kind in ("User", "Group") if kind not in models]
        if config is not None and config.patch is not None and not config.patch.supported:
            missing.append("PATCH (RFC 7644 §3.5.2)")
        if config is not None and config.filter is not None and not config.filter.supported:
            missing.append("filtering (RFC 7644 §3.4.2.2)")
        return missing

    def _model(self, scim: SyncSCIMClient, kind: str) -> Any:
        model = scim.get_resource_model(kind)
        if model is None:
            raise ConnectorUnavailable(self.name, f"the service announces no {kind} resource type")
        return model

    def _member_ids(self, scim: SyncSCIMClient, customer_id: str) -> list[str]:
        """The ids of the users of the customer's organisation: the members of the one group
        whose attribute is exactly the customer's id (whatever else the service returns)."""
        groups = self._model(scim, "Group")
        wanted = f"{self.group_attribute} eq {_quoted(customer_id)}"
        search: SearchRequest[Any] = SearchRequest(filter=wanted)
        found = scim.query(groups, query_parameters=search, check_response_payload=False)
        if not isinstance(found, dict):
            raise ConnectorUnavailable(self.name, "unexpected answer to a group search")
        listed = [g for g in found.get("Resources") or [] if isinstance(g, dict)]
        if int(found.get("totalResults", len(listed))) > len(listed):
            raise ConnectorUnavailable(self.name, f"more groups match {wanted} than one page holds")
        mine = [g for g in listed if g.get(self.group_attribute) == customer_id]
        if not mine:
            raise UnknownCustomer(self.name, customer_id)
        if len(mine) > 1:
            raise ConnectorUnavailable(self.name, f"{len(mine)} groups match {wanted}")
        group = mine[0]
        if "members" not in group:  # left out of search results by some services
            group = scim.query(groups, str(group["id"]), check_response_payload=False)
            if not isinstance(group, dict):
                raise ConnectorUnavailable(self.name, "unexpected answer to a group read")
        members = [m for m in group.get("members") or [] if isinstance(m, dict)]
        if any(str(m.get("type", "")).lower() == "group" for m in members):
            raise ConnectorUnavailable(self.name, f"the group of {wanted} nests groups")
        return list(dict.fromkeys(str(m["value"]) for m in members if m.get("value")))

    def _users(self, scim: SyncSCIMClient, customer_id: str) -> Iterator[Any]:
        """The organisation's users one by one (read as each is reached, so a step interrupted
        halfway keeps what it did); a member the service no longer holds is left out."""
        users = self._model(scim, "User")
        for user_id in self._member_ids(scim, customer_id):
            try:
                yield scim.query(users, user_id)
            except NotFoundException:
                continue

    def _set_active(self, scim: SyncSCIMClient, user: Any, active: bool) -> None:
        users = self._model(scim, "User")
        patch = PatchOp[users](  # type: ignore[valid-type]
            operations=[PatchOperation(op="replace", path="active", value=active)]
        )
        scim.modify(users, user.id, patch)

    def grants(self, customer_id: str) -> dict[str, int]:
        with self._calls() as scim:
            active = sum(1 for user in self._users(scim, customer_id) if user.active is not False)
        return {"active_users": active}

    def revoke(self, customer_id: str) -> dict[str, int]:
        deactivated = 0
        with self._calls() as scim:
            for user in self._users(scim, customer_id):
                if user.active is not False:
                    self._set_active(scim, user, False)
                    deactivated += 1
        return {"users_deactivated": deactivated}

    def restore(self, customer_id: str) -> dict[str, int]:
        reactivated = 0
        with self._calls() as scim:
            for user in self._users(scim, customer_id):
                if user.active is False:
                    self._set_active(scim, user, True)
                    reactivated += 1
        return {"users_reactivated": reactivated}

    def close(self) -> None:
        self._http.close()
