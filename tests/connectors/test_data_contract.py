"""The contract every data system passes (closeout/connectors/data.py), run against each: the
reference CRM in Closeout's database, the SQL mapping adapter over an Odoo-shaped database
Closeout did not design (examples/connectors/odoo.toml) on SQLite and on PostgreSQL, and
Salesforce (a local server answering with its REST API's shapes).

Export gives every record; minimise takes what retention does not need and restore gives it
back; deleting a category leaves none of it (deleted or anonymised, by the system's rule) and
every category the customer's own row too; once the suppression ledger names the customer,
restore is refused; every step is idempotent; an unknown customer is a typed error. Each
adapter's failures (refused credential, timeout, rate limit, unreachable) are typed in its own
tests: test_sql_data.py, test_salesforce.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from closeout.connectors.data import CUSTOMER_ROW, CrmData
from closeout.connectors.errors import (
    UnknownCustomer,
)
from closeout.connectors.salesforce import SalesforceData
from closeout.crm.adapters import crm_from
from closeout.crm.models import MINIMISED_TABLES, RESTORED_TABLES
from closeout.crm.port import CustomerSuppressed
from closeout.db import Database
from closeout.demo import add_customer
from closeout.domain import DataCategory
from closeout.settings import Settings
from closeout.suppression.ledger import ledger_from
from tests.connectors.data_systems import DataUnderTest, sql_system
from tests.connectors.odoo import (
    odoo_database,
)
from tests.connectors.salesforce_server import local_salesforce

SALESFORCE_TOKEN = "00Dxx0000001gPL!" + uuid.uuid4().hex


@pytest.fixture
def crm_data(settings: Settings, db: Database) -> DataUnderTest:
    ledger = ledger_from(settings)

    def seed() -> str:
        customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        with db.session() as session:
            add_customer(session, customer_id, name="Acme Trading", owner="li.na@example.com")
        return customer_id

    return DataUnderTest(
        CrmData(crm_from(settings, db, ledger)),
        seed,
        ledger,
        frozenset(MINIMISED_TABLES),
        frozenset(RESTORED_TABLES),
    )


@pytest.fixture
def salesforce_data(settings: Settings, tmp_path: Path) -> Iterator[DataUnderTest]:
    with local_salesforce(tmp_path, SALESFORCE_TOKEN) as org:
        ledger = ledger_from(settings)
        system = SalesforceData(
            "salesforce", org.url, lambda: SALESFORCE_TOKEN, ledger, ca_file=str(org.ca_file)
        )

        def seed() -> str:
            customer_id = f"cust-{uuid.uuid4().hex[:8]}"
            org.account(customer_id)
            return customer_id

        archived = frozenset({"Case", "Task"})
        yield DataUnderTest(system, seed, ledger, archived, archived)


@pytest.fixture(params=["crm", "sqlite", "postgresql", "salesforce"])
def data(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> Iterator[DataUnderTest]:
    """The reference CRM, the SQL mapping adapter over Odoo's tables on each database, and
    Salesforce (a local server answering with its REST API's shapes)."""
    if request.param in ("crm", "salesforce"):
        yield request.getfixturevalue(f"{request.param}_data")
        return
    with odoo_database(request, request.param, tmp_path) as url, sql_system(settings, url) as found:
        yield found


def _held(export_tables: dict[str, list[dict[str, object]]]) -> dict[str, int]:
    return {t: len(rows) for t, rows in export_tables.items() if rows}


def test_export_minimise_delete_by_category_then_nothing_is_left(data: DataUnderTest) -> None:
    system, customer_id = data.system, data.seed()
    other = data.seed()
    export = system.export(customer_id)
    held = _held(export.tables)
    assert held[CUSTOMER_ROW] == 1 and len(held) >= 5
    assert system.remaining(customer_id) == held
    # Minimise: what retention does not need goes, the rest stays.
    taken = system.minimise(customer_id)
    assert {t for t, n in taken.items() if n} == data.minimised & set(held)
    left = system.remaining(customer_id)
    assert not data.minimised & set(left) and set(left) == set(held) - data.minimised
    # Each category on its own date: its records go (or are emptied), nothing else.
    for category in (DataCategory.INTERACTION_HISTORY, DataCategory.ACCOUNTING_RECORDS):
        system.delete(customer_id, [category])
        assert system.remaining(customer_id, [category]) == {}
        assert system.remaining(customer_id, [DataCategory.CONTRACTS]) != {}
    # The last categories take the customer's own row.
    system.delete(customer_id, list(DataCategory))
    assert system.remaining(customer_id) == {}
    with pytest.raises(UnknownCustomer):
        system.export(customer_id)
    # Another customer's records are untouched.
    assert system.remaining(other) == _held(system.export(other).tables)


def test_minimised_records_come_back_whole(data: DataUnderTest) -> None:
    system, customer_id = data.system, data.seed()
    export = system.export(customer_id)
    system.minimise(customer_id)
    restored = system.restore(export)
    assert {t for t, n in restored.items() if n} == data.restored & set(_held(export.tables))
    again = system.export(customer_id)
    for table in data.restored:
        assert len(again.tables[table]) == len(export.tables[table])
    assert set(system.restore(export).values()) <= {0}  # restoring again changes nothing


def test_restore_after_deletion_is_refused_by_the_suppression_ledger(
    data: DataUnderTest,
) -> None:
    system, customer_id = data.system, data.seed()
    export = system.export(customer_id)
    system.delete(customer_id, list(DataCategory))
    data.ledger.suppress(customer_id, str(uuid.uuid4()), datetime.now(UTC))
    with pytest.raises(CustomerSuppressed):
        system.restore(export)
    assert system.remaining(customer_id) == {}


def test_every_step_is_idempotent(data: DataUnderTest) -> None:
    system, customer_id = data.system, data.seed()
    system.minimise(customer_id)
    assert set(system.minimise(customer_id).values()) <= {0}
    system.delete(customer_id, [DataCategory.CONTRACTS])
    assert set(system.delete(customer_id, [DataCategory.CONTRACTS]).values()) <= {0}
    system.delete(customer_id, list(DataCategory))
    assert set(system.delete(customer_id, list(DataCategory)).values()) <= {0}
    assert system.remaining(customer_id) == {}


def test_an_unknown_customer_is_a_typed_error(data: DataUnderTest) -> None:
    nobody = "nobody-" + uuid.uuid4().hex[:8]
    for step in (data.system.export, data.system.minimise):
        with pytest.raises(UnknownCustomer) as refused:
            step(nobody)
        assert refused.value.system == data.system.name
    # Deleting and counting what is not there is an answer: nothing.
    assert set(data.system.delete(nobody, list(DataCategory)).values()) <= {0}
    assert data.system.remaining(nobody) == {}
