"""The one place the connected systems' adapters are built, from the settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from closeout.connectors.access import AccessProvider, Checked, CrmAccess
from closeout.connectors.config import SalesforceConnector, ScimConnector, SqlConnector
from closeout.connectors.data import CrmData, DataSystem
from closeout.connectors.salesforce import SalesforceData
from closeout.connectors.salesforce_source import SalesforceSource
from closeout.connectors.scim import ScimAccess
from closeout.connectors.sql_data import SqlMappedData
from closeout.connectors.sql_detection import SqlDetectionInputs
from closeout.connectors.sql_mapping import load_mapping
from closeout.connectors.sql_rows import sql_engine
from closeout.connectors.sql_source import SqlCustomerSource
from closeout.crm.port import CrmPort, CustomerSource
from closeout.detection.config import DetectionConfig
from closeout.detection.detector import DetectionInputs
from closeout.detection.rules import Rule
from closeout.settings import Settings
from closeout.suppression.ledger import SuppressionLedger


class SourceConflict(ValueError):
    """A company's CRM made the source while the reference CRM still holds customers."""


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
    # The connected source, for checks (None: the reference CRM, checked as the database).
    source_checked: Checked | None = None


def connected(settings: Settings, crm: CrmPort, ledger: SuppressionLedger) -> Connected:
    """The customer source, the data systems and the access providers of the settings.

    With no connector declared the customer source, the reference CRM is the source and the
    first data system and access provider (the embedded default). With one, the customers are
    the company's, its system first among the data systems, and the reference CRM takes no part:
    it must hold nobody (SourceConflict otherwise)."""
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
            org = SalesforceData(
                spec.name,
                spec.instance_url,
                spec.secret,
                ledger,
                customer_field=spec.customer_field,
                api_version=spec.api_version,
                timeout=spec.timeout,
                ca_file=str(spec.ca_file) if spec.ca_file else None,
            )
            data.append(org)
            if spec.source:
                source_name = spec.name
                source = SalesforceSource(
                    org,
                    status_field=spec.status_field,
                    value_tier_field=spec.value_tier_field,
                    locale_field=spec.locale_field,
                    default_owner=spec.default_owner,
                )
    # The source's own system first (closeout/connectors/records.py).
    data.sort(key=lambda system: system.name != source_name)
    inputs: DetectionInputs | None = None
    checked: Checked | None = None
    if isinstance(source, SqlCustomerSource):
        inputs, checked = SqlDetectionInputs(source), source
    elif isinstance(source, SalesforceSource):
        # No rule reads Salesforce: its cases are opened through the API (POST /api/cases,
        # from a Flow or an integration), never from the reference CRM's customers.
        inputs, checked = NO_RULES, source
    if not reference and next(iter(crm.customer_ids(batch=1)), None) is not None:
        # Two sources of customers under one id space: a customer "42" of each would be taken
        # for one (exports, deletions, the suppression ledger). Refused, not guessed at.
        raise SourceConflict(
            f"connector {source_name!r} is the customer source, but the reference CRM still "
            "holds customers (the demo's, say): connect the company's CRM as the source on a "
            "database where the reference CRM is empty"
        )
    return Connected(source, data, access, source_name, inputs, checked)


class _NoRules:
    """Detection with nothing to read: the scan flags no one."""

    rules: Sequence[Rule] = ()

    def run(self, rule: Rule, config: DetectionConfig, now: datetime) -> list[Any]:
        return []


NO_RULES = _NoRules()
