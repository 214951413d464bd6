"""The one place the connected systems' adapters are built, from the settings."""

from __future__ import annotations

from closeout.connectors.access import AccessProvider, CrmAccess
from closeout.connectors.config import SalesforceConnector, ScimConnector, SqlConnector
from closeout.connectors.data import CrmData, DataSystem
from closeout.connectors.salesforce import SalesforceData
from closeout.connectors.scim import ScimAccess
from closeout.connectors.sql_data import SqlMappedData
from closeout.connectors.sql_mapping import load_mapping
from closeout.connectors.sql_rows import sql_engine
from closeout.crm.port import CrmPort
from closeout.settings import Settings
from closeout.suppression.ledger import SuppressionLedger


def access_providers(settings: Settings, crm: CrmPort) -> list[AccessProvider]:
    """The reference CRM's access first, then each configured identity provider."""
    providers: list[AccessProvider] = [CrmAccess(crm)]
    for spec in settings.connectors:
        if isinstance(spec, ScimConnector):
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


def data_systems(settings: Settings, crm: CrmPort, ledger: SuppressionLedger) -> list[DataSystem]:
    """The reference CRM's tables first, then each configured database, each refusing to
    restore a customer the suppression ledger names."""
    systems: list[DataSystem] = [CrmData(crm)]
    for spec in settings.connectors:
        if isinstance(spec, SqlConnector):
            engine = sql_engine(spec.secret_url(), spec.timeout)
            systems.append(SqlMappedData(spec.name, engine, load_mapping(spec.mapping), ledger))
        elif isinstance(spec, SalesforceConnector):
            systems.append(
                SalesforceData(
                    spec.name,
                    spec.instance_url,
                    spec.secret,
                    ledger,
                    customer_field=spec.customer_field,
                    api_version=spec.api_version,
                    timeout=spec.timeout,
                    ca_file=str(spec.ca_file) if spec.ca_file else None,
                )
            )
    return systems
