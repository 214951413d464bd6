"""The one place the connected systems' adapters are built, from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from closeout.connectors.access import AccessProvider, CrmAccess
from closeout.connectors.config import SalesforceConnector, ScimConnector, SqlConnector
from closeout.connectors.data import CrmData, DataSystem
from closeout.connectors.salesforce import SalesforceData
from closeout.connectors.scim import ScimAccess
from closeout.connectors.sql_data import SqlMappedData
from closeout.connectors.sql_detection import SqlDetectionInputs
from closeout.connectors.sql_mapping import load_mapping
from closeout.connectors.sql_rows import sql_engine
from closeout.connectors.sql_source import SqlCustomerSource
from closeout.crm.port import CrmPort, CustomerSource
from closeout.detection.detector import DetectionInputs
from closeout.settings import Settings
from closeout.suppression.ledger import SuppressionLedger


@dataclass(frozen=True)
class Connected:
    """Where a case reads who the customer is, and every system it closes them in."""

    source: CustomerSource
    data: list[DataSystem]
    access: list[AccessProvider]
    # The source's name in checks and health reports ("crm": the reference CRM).
    source_name: str = "crm"
    # Where detection's rules read their facts; None: the reference CRM's tables.
    detection: DetectionInputs | None = None


def connected(settings: Settings, crm: CrmPort, ledger: SuppressionLedger) -> Connected:
    """The customer source, the data systems and the access providers of the settings.

    With no connector declared the customer source, the reference CRM is the source and the
    first data system and access provider (the embedded default). With one, the customers are
    the company's: the reference CRM holds none of them and takes no part in their cases."""
    reference = not any(getattr(spec, "source", False) for spec in settings.connectors)
    source: CustomerSource = crm
    source_name = "crm"
    data: list[DataSystem] = [CrmData(crm)] if reference else []
    access: list[AccessProvider] = [CrmAccess(crm)] if reference else []
    for spec in settings.connectors:
        if isinstance(spec, ScimConnector):
            access.append(
                ScimAccess(
                    spec.name,
                    spec.url,
                    spec.secret(),
                    timeout=spec.timeout,
                    group_attribute=spec.group_attribute,
                )
            )
        elif isinstance(spec, SqlConnector):
            engine = sql_engine(spec.secret_url(), spec.timeout)
            system = SqlMappedData(spec.name, engine, load_mapping(spec.mapping), ledger)
            data.append(system)
            if spec.source:
                source, source_name = SqlCustomerSource(system), spec.name
        elif isinstance(spec, SalesforceConnector):
            data.append(
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
    inputs = SqlDetectionInputs(source) if isinstance(source, SqlCustomerSource) else None
    return Connected(source, data, access, source_name, inputs)
