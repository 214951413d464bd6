"""Connecting a company's CRM as the customer source while the reference CRM still holds
customers (cases opened before): those run on to their end behind the new source, new ones
come from the company's CRM; once the reference CRM holds none, it takes no part."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from closeout.connectors.access import grants_left, revoke_everywhere
from closeout.connectors.adapters import connected
from closeout.connectors.config import parse_connectors
from closeout.connectors.errors import UnknownCustomer
from closeout.connectors.records import export_everywhere, records_left
from closeout.connectors.source_fallback import SourceWithFallback
from closeout.crm.adapters import crm_from
from closeout.db import Database
from closeout.demo import add_customer
from closeout.settings import Settings
from closeout.suppression.ledger import ledger_from
from tests.connectors.odoo import MAPPING, SALESPERSON, add_odoo_customer, create
from worker import build_activities


@pytest.fixture
def odoo_settings(settings: Settings, tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path}/odoo.db"
    create(url)
    add_odoo_customer(url, "odoo-1")
    entry = {"kind": "sql", "name": "odoo", "url": url, "mapping": str(MAPPING), "source": True}
    return settings.model_copy(update={"connectors": parse_connectors([entry])})


def test_cases_of_the_reference_crm_run_on_behind_the_new_source(
    odoo_settings: Settings, db: Database
) -> None:
    with db.session() as session:
        add_customer(session, "crm-1", name="Old Shop", owner=SALESPERSON)
    ledger = ledger_from(odoo_settings)
    systems = connected(odoo_settings, crm_from(odoo_settings, db, ledger), ledger)
    assert isinstance(systems.source, SourceWithFallback)
    assert [s.name for s in systems.data] == ["odoo", "crm"]
    assert [p.name for p in systems.access] == ["crm"]
    # Each customer read where they are.
    old, new = systems.source.get_profile("crm-1"), systems.source.get_profile("odoo-1")
    assert old is not None and new is not None and old.owner == new.owner == SALESPERSON
    assert systems.source.names(["crm-1", "odoo-1", "nobody"]) == {
        "crm-1": "Old Shop",
        "odoo-1": "Acme odoo-1",
    }
    assert [c.id for c in systems.source.search("", None, 10, 0)[0]] == ["odoo-1"]
    # Each backed up from the system holding them, the other holding nothing of them.
    old_export = export_everywhere(systems.data, "crm-1")
    assert old_export.tables["customer"] and not any("." in t for t in old_export.tables)
    new_export = export_everywhere(systems.data, "odoo-1")
    assert set(new_export.tables) >= {"odoo.customer", "odoo.account_move"}
    assert not any("." not in t for t in new_export.tables)
    with pytest.raises(UnknownCustomer):
        export_everywhere(systems.data, "nobody")  # held nowhere: an error, not an empty bundle
    # The old customer's access is revoked in the reference CRM; the new one has none there.
    assert revoke_everywhere(systems.access, "crm-1")["portal_users_disabled"] == 1
    assert grants_left(systems.access, "crm-1") == {}
    assert revoke_everywhere(systems.access, "odoo-1") == {"crm.unknown": 1}
    assert records_left(systems.data, "crm-1")["customer"] == 1
    # The status goes where the customer is.
    systems.source.set_status("crm-1", "closing")
    systems.source.set_status("odoo-1", "closing")
    assert [systems.source.get_profile(c).status for c in ("crm-1", "odoo-1")] == [  # type: ignore[union-attr]
        "closing",
        "closing",
    ]


def test_once_the_reference_crm_holds_nobody_it_takes_no_part(
    odoo_settings: Settings, db: Database
) -> None:
    ledger = ledger_from(odoo_settings)
    systems = connected(odoo_settings, crm_from(odoo_settings, db, ledger), ledger)
    assert not isinstance(systems.source, SourceWithFallback)
    assert [s.name for s in systems.data] == ["odoo"] and systems.access == []
    assert systems.source.get_profile("crm-1") is None


def test_a_customer_deleted_for_good_found_again_in_the_companys_crm_is_purged(
    odoo_settings: Settings, db: Database
) -> None:
    """After a restore of the company's CRM from a backup older than the deletion."""
    ledger = ledger_from(odoo_settings)
    ledger.suppress("odoo-1", str(uuid.uuid4()), datetime.now(UTC))
    enforcer = build_activities(odoo_settings, db).housekeeping.suppression
    assert list(enforcer.found()) == ["odoo-1"]
    (purged,) = enforcer.enforce(datetime.now(UTC))
    assert purged.removed["odoo.account_move"] == 2 and purged.removed["odoo.customer"] == 1
    assert list(enforcer.found()) == []
    systems = connected(odoo_settings, crm_from(odoo_settings, db, ledger), ledger)
    assert records_left(systems.data, "odoo-1") == {}
