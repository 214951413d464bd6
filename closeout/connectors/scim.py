"""An identity provider's users as an access provider, over SCIM 2.0 (RFC 7643, RFC 7644).

A customer's organisation is the SCIM Group whose `externalId` (or another attribute, by
configuration) is the customer's id in Closeout; its members are the customer's users.
Revoking sets every active member inactive (`active` false: the provider ends their sessions
and refuses their sign-ins), restoring sets the members active again, and what still lets the
customer in is the count of active members. Users are deactivated, never deleted: the
identity provider's own retention rules decide when they go.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from httpx2 import Client, Response, TimeoutException
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_client.errors import RequestNetworkException, SCIMClientException
from scim2_models import ListResponse, PatchOp, PatchOperation, SearchRequest
from scim2_models.exceptions import SCIMException

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
        )
        self._scim = SyncSCIMClient(self._http)
        self._discovered = False

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
    def _calls(self) -> Iterator[None]:
        try:
            if not self._discovered:
                self._scim.discover()
                self._discovered = True
            yield
        except RequestNetworkException as exc:
            if isinstance(exc.__cause__, TimeoutException):
                raise ConnectorTimeout(self.name, "no answer in time") from exc
            raise ConnectorUnavailable(self.name, f"unreachable: {exc.__cause__ or exc}") from exc
        except (SCIMException, SCIMClientException) as exc:
            raise ConnectorUnavailable(self.name, f"unexpected answer: {exc}") from exc

    def check(self) -> list[str]:
        """Discover the service afresh (its configuration, schemas and resource types, with
        the token) and say which of what a case needs it does not announce."""
        self._scim = SyncSCIMClient(self._http)
        self._discovered = False
        with self._calls():
            config = self._scim.provider.config
            models = {m.__name__.split("[")[0] for m in self._scim.provider.models}
        missing = [f"the {kind} resource type" for kind in ("User", "Group") if kind not in models]
        if config is not None and config.patch is not None and not config.patch.supported:
            missing.append("PATCH (RFC 7644 §3.5.2)")
        if config is not None and config.filter is not None and not config.filter.supported:
            missing.append("filtering (RFC 7644 §3.4.2.2)")
        return missing

    def _members(self, customer_id: str) -> list[Any]:
        """The users of the customer's organisation, as the service holds them now."""
        group_model = self._scim.get_resource_model("Group")
        user_model = self._scim.get_resource_model("User")
        wanted = f"{self.group_attribute} eq {_quoted(customer_id)}"
        search: SearchRequest[Any] = SearchRequest(filter=wanted)
        found = self._scim.query(group_model, query_parameters=search)
        if not isinstance(found, ListResponse):
            raise ConnectorUnavailable(self.name, f"unexpected answer to a search: {found!r}")
        if not found.resources:
            raise UnknownCustomer(self.name, customer_id)
        ids = [
            member.value
            for group in found.resources
            for member in getattr(group, "members", None) or []
            if member.value
        ]
        return [self._scim.query(user_model, user_id) for user_id in dict.fromkeys(ids)]

    def _set_active(self, user: Any, active: bool) -> None:
        user_model = self._scim.get_resource_model("User")
        patch = PatchOp[user_model](  # type: ignore[valid-type]
            operations=[PatchOperation(op="replace", path="active", value=active)]
        )
        self._scim.modify(user_model, user.id, patch)

    def grants(self, customer_id: str) -> dict[str, int]:
        with self._calls():
            users = self._members(customer_id)
        return {"active_users": sum(1 for u in users if u.active is not False)}

    def revoke(self, customer_id: str) -> dict[str, int]:
        with self._calls():
            active = [u for u in self._members(customer_id) if u.active is not False]
            for user in active:
                self._set_active(user, False)
        return {"users_deactivated": len(active)}

    def restore(self, customer_id: str) -> dict[str, int]:
        with self._calls():
            inactive = [u for u in self._members(customer_id) if u.active is False]
            for user in inactive:
                self._set_active(user, True)
        return {"users_reactivated": len(inactive)}

    def close(self) -> None:
        self._http.close()
