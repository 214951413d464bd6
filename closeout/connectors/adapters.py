"""The one place the connected systems' adapters are built, from the settings."""

from __future__ import annotations

from closeout.connectors.access import AccessProvider, CrmAccess
from closeout.connectors.scim import ScimAccess
from closeout.crm.port import CrmPort
from closeout.settings import Settings


def access_providers(settings: Settings, crm: CrmPort) -> list[AccessProvider]:
    """The reference CRM's access first, then each configured identity provider."""
    providers: list[AccessProvider] = [CrmAccess(crm)]
    for spec in settings.connectors:
        providers.append(
            ScimAccess(
                spec.name,
                spec.url,
                spec.secret(),
                timeout=spec.timeout,
                group_attribute=spec.group_attribute,
            )
        )
    return providers
