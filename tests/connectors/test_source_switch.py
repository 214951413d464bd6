"""A company's CRM as the customer source: the reference CRM takes no part, and must hold
nobody when the source is connected (one id space, one source of customers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from closeout.connectors.adapters import SourceConflict, connected
from closeout.connectors.config import parse_connectors
from closeout.connectors.errors import UnknownCustomer
from closeout.connectors.records import export_everywhere
from closeout.crm.adapters import crm_from
from closeout.db import Database
from closeout.demo import add_customer
from closeout.settings import Settings
from closeout.suppression.ledger import ledger_from
from tests.connectors.odoo import MAPPING, SALESPERSON, add_odoo_customer, create


@pytest.fixture
def odoo_settings(settings: Settings, tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path}/odoo.db"
    create(url)
    add_odoo_customer(url, "odoo-1")
    entry = {"kind": "sql", "name": "odoo", "url": url, "mapping": str(MAPPING), "source": True}
    return settings.model_copy(update={"connectors": parse_connectors([entry])})


def test_a_source_is_refused_while_the_reference_crm_holds_customers(
    odoo_settings: Settings, db: Database
) -> None:
    """Two sources of customers under one id space: a "42" of each would be taken for one."""
    with db.session() as session:
        add_customer(session, "crm-1", name="Old Shop", owner=SALESPERSON)
    ledger = ledger_from(odoo_settings)
    with pytest.raises(SourceConflict, match="the reference CRM still holds customers"):
        connected(odoo_settings, crm_from(odoo_settings, db, ledger), ledger)


def test_with_an_empty_reference_crm_it_takes_no_part(
    odoo_settings: Settings, db: Database
) -> None:
    ledger = ledger_from(odoo_settings)
    systems = connected(odoo_settings, crm_from(odoo_settings, db, ledger), ledger)
    assert [s.name for s in systems.data] == ["odoo"] and systems.access == []
    assert systems.source_name == "odoo" and systems.source_checked is systems.source
    profile = systems.source.get_profile("odoo-1")
    assert profile is not None and profile.owner == SALESPERSON
    assert systems.source.get_profile("crm-1") is None
    assert set(export_everywhere(systems.data, "odoo-1").tables) >= {"odoo.customer"}
    with pytest.raises(UnknownCustomer):
        export_everywhere(systems.data, "nobody")  # the source's own system must hold them
