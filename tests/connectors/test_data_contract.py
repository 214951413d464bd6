"""The contract every data system passes (closeout/connectors/data.py), run against each: the
reference CRM in Closeout's database, and the SQL mapping adapter over an Odoo-shaped database
Closeout did not design (examples/connectors/odoo.toml), on SQLite and on PostgreSQL.

Export gives every record; minimise takes what retention does not need and restore gives it
back; deleting a category leaves none of it (deleted or anonymised, by the system's rule) and
every category the customer's own row too; once the suppression ledger names the customer,
restore is refused; every step is idempotent; an unknown customer is a typed error. The SQL
adapter also turns a refused credential, a timeout and an unreachable database into typed
errors (a database has no rate limit: that part of the contract is the HTTP adapters').
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from closeout.connectors.config import parse_connectors
from closeout.connectors.data import CUSTOMER_ROW, CrmData, DataSystem
from closeout.connectors.errors import (
    AmbiguousCustomer,
    ConnectorTimeout,
    ConnectorUnavailable,
    CredentialRefused,
    UnknownCustomer,
)
from closeout.connectors.salesforce import SalesforceData
from closeout.connectors.sql_data import SqlMappedData, sql_engine
from closeout.connectors.sql_mapping import load_mapping
from closeout.crm.adapters import crm_from
from closeout.crm.models import MINIMISED_TABLES, RESTORED_TABLES
from closeout.crm.port import CustomerSuppressed
from closeout.db import Database
from closeout.demo import add_customer
from closeout.domain import DataCategory
from closeout.settings import Settings
from closeout.suppression.ledger import SuppressionLedger, ledger_from
from tests.connectors.odoo import (
    CRM_LEAD,
    MAPPING,
    RES_PARTNER,
    SALE_ORDER,
    add_odoo_customer,
    odoo_database,
)
from tests.connectors.salesforce_server import local_salesforce

SALESFORCE_TOKEN = "00Dxx0000001gPL!" + uuid.uuid4().hex


@dataclass
class DataUnderTest:
    system: DataSystem
    seed: Callable[[], str]
    ledger: SuppressionLedger
    # The tables minimise empties, and those restore fills again.
    minimised: frozenset[str]
    restored: frozenset[str]


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


@contextmanager
def _sql(settings: Settings, url: str) -> Iterator[DataUnderTest]:
    ledger = ledger_from(settings)
    engine = sql_engine(url, timeout=5)
    system = SqlMappedData("odoo", engine, load_mapping(MAPPING), ledger)

    def seed() -> str:
        customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        add_odoo_customer(url, customer_id)
        return customer_id

    yield DataUnderTest(
        system,
        seed,
        ledger,
        frozenset({"crm_lead", "mail_message"}),
        frozenset({"crm_lead", "mail_message"}),
    )
    engine.dispose()


@pytest.fixture
def sql_data(settings: Settings, odoo_url: str) -> Iterator[DataUnderTest]:
    with _sql(settings, odoo_url) as found:
        yield found


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
    with odoo_database(request, request.param, tmp_path) as url, _sql(settings, url) as found:
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


# ---------------------------------------------------------------------- the SQL adapter


def test_the_odoo_mapping_anonymises_what_the_books_keep(
    sql_data: DataUnderTest, odoo_url: str
) -> None:
    """Odoo's accounting entries point at the partner: its row stays, emptied; the order's
    amounts stay, its free text goes; another model's chatter with the same id stays."""
    customer_id = sql_data.seed()
    sql_data.system.delete(customer_id, list(DataCategory))
    engine = create_engine(odoo_url)
    with engine.connect() as conn:
        partner = conn.execute(select(RES_PARTNER).where(RES_PARTNER.c.is_company)).one()
        order = conn.execute(select(SALE_ORDER)).one()
        unrelated = conn.execute(text("SELECT count(*) FROM mail_message")).scalar_one()
    engine.dispose()
    assert (partner.name, partner.ref, partner.email, partner.vat) == (
        "Deleted customer",
        None,
        None,
        None,
    )
    assert partner.active is False or partner.active == 0
    assert (partner.complete_name, partner.email_normalized) == ("Deleted customer", None)
    assert (order.note, order.client_order_ref, str(order.amount_total)) == (None, None, "1499.90")
    assert unrelated == 1


def test_check_names_what_the_database_lacks(
    settings: Settings, odoo_url: str, tmp_path: Path
) -> None:
    mapping = tmp_path / "wrong.toml"
    mapping.write_text(
        MAPPING.read_text().replace('customer_column = "res_id"', 'customer_column = "record_id"')
    )
    system = SqlMappedData(
        "odoo", sql_engine(odoo_url, 5), load_mapping(mapping), ledger_from(settings)
    )
    assert system.check() == ["mail_message.record_id"]
    with pytest.raises(ConnectorUnavailable, match=r"the database lacks mail_message\.record_id"):
        system.export("cust-1")
    empty = SqlMappedData(
        "odoo", sql_engine(f"sqlite:///{tmp_path}/empty.db", 5), load_mapping(MAPPING),
        ledger_from(settings),
    )  # fmt: skip
    with pytest.raises(ConnectorUnavailable) as lacking:
        empty.check()
    assert str(lacking.value) == (
        "odoo: the database lacks the tables res_partner, crm_lead, mail_message, sale_order, "
        "account_move"
    )
    good = SqlMappedData(
        "odoo", sql_engine(odoo_url, 5), load_mapping(MAPPING), ledger_from(settings)
    )
    assert good.check() == []


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (
            'anonymise = ["note", "client_order_ref"]',
            "anonymise = []",
            "table.3: Value error, table sale_order: anonymise needs the columns it clears",
        ),
        ('category = "contracts"', 'category = "gossip"', "table.3.category: Input should be"),
        (
            'anonymise = ["ref", "email"',
            'anonymise = ["email"',
            "customer: Value error, customer table res_partner: anonymising must clear ref too",
        ),
    ],
)
def test_a_wrong_mapping_is_refused_with_its_reason(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    path = tmp_path / "mapping.toml"
    assert old in MAPPING.read_text()
    path.write_text(MAPPING.read_text().replace(old, new))
    with pytest.raises(ValueError, match=str(path)) as refused:
        load_mapping(path)
    assert says in str(refused.value)


def test_a_refused_credential_is_a_typed_error(settings: Settings, postgres_server: str) -> None:
    url = postgres_server.replace("closeout@", "intruder@") + "/postgres"
    system = SqlMappedData("odoo", sql_engine(url, 5), load_mapping(MAPPING), ledger_from(settings))
    with pytest.raises(CredentialRefused) as refused:
        system.check()
    assert "intruder" not in str(refused.value)


def test_a_database_that_does_not_answer_in_time_is_a_timeout(
    sql_data: DataUnderTest, odoo_url: str
) -> None:
    customer_id = sql_data.seed()
    slow = SqlMappedData("odoo", sql_engine(odoo_url, 1), load_mapping(MAPPING), sql_data.ledger)
    blocker = create_engine(odoo_url)
    with blocker.connect() as conn:
        if blocker.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
        else:
            conn.begin()
            conn.execute(text("LOCK TABLE res_partner IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(ConnectorTimeout):
            slow.delete(customer_id, list(DataCategory))
        conn.rollback()
    blocker.dispose()
    assert sql_data.system.remaining(customer_id) != {}  # nothing half-done


def test_an_unreachable_database_is_unavailable(settings: Settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    url = f"postgresql://closeout@127.0.0.1:{port}/odoo"
    system = SqlMappedData("odoo", sql_engine(url, 2), load_mapping(MAPPING), ledger_from(settings))
    with pytest.raises(ConnectorUnavailable):
        system.export("cust-1")


def test_a_database_error_never_quotes_the_customers_words(sql_data: DataUnderTest) -> None:
    """PostgreSQL's message for a refused row lists its values ("Failing row contains …"):
    the error that reaches the case's history names the kind and code only."""
    customer_id = sql_data.seed()
    export = sql_data.system.export(customer_id)
    sql_data.system.minimise(customer_id)
    broken = [{**row, "name": None} for row in export.tables["crm_lead"]]
    with pytest.raises(ConnectorUnavailable) as refused:
        sql_data.system.restore(replace(export, tables={**export.tables, "crm_lead": broken}))
    assert "camille" not in str(refused.value).lower()
    assert refused.value.__cause__ is None  # nor chained on, into the history
    assert str(refused.value).startswith("odoo: database error: ")
    assert sql_data.system.remaining(customer_id).get("crm_lead") is None  # nothing half-done


def test_two_records_under_one_customer_id_are_refused_not_guessed(
    sql_data: DataUnderTest, odoo_url: str
) -> None:
    customer_id = sql_data.seed()
    add_odoo_customer(odoo_url, customer_id)  # a second partner with the same reference
    for step in (sql_data.system.export, sql_data.system.minimise, sql_data.system.remaining):
        with pytest.raises(AmbiguousCustomer):
            step(customer_id)
    with pytest.raises(AmbiguousCustomer):
        sql_data.system.delete(customer_id, list(DataCategory))


def test_restore_never_overwrites_another_customers_row(
    sql_data: DataUnderTest, odoo_url: str
) -> None:
    """A primary key reused since the archive (a row deleted, its id given again) holds
    someone else's record: the restore stops rather than write over it."""
    customer_id = sql_data.seed()
    export = sql_data.system.export(customer_id)
    sql_data.system.minimise(customer_id)
    other = sql_data.seed()
    lead = export.tables["crm_lead"][0]
    engine = create_engine(odoo_url)
    with engine.begin() as conn:
        other_key = conn.execute(
            select(RES_PARTNER.c.id).where(RES_PARTNER.c.ref == other)
        ).scalar_one()
        # SQLite gives a freed id again by itself; PostgreSQL's sequence is moved by hand.
        conn.execute(
            CRM_LEAD.update().where(CRM_LEAD.c.partner_id == other_key).values(id=lead["id"])
        )
    engine.dispose()
    with pytest.raises(ConnectorUnavailable, match="key taken by another record"):
        sql_data.system.restore(export)
    theirs = sql_data.system.export(other).tables["crm_lead"]
    assert [(r["id"], r["name"]) for r in theirs] == [(lead["id"], "Renewal 2025")]


def test_a_connectors_value_that_is_not_a_list_is_not_echoed(tmp_path: Path) -> None:
    secret = "postgresql://odoo:hunter2@db.example.com/odoo"
    for value in (secret, '{"kind": "sql", "url": "' + secret + '"}'):
        with pytest.raises(ValueError) as refused:
            parse_connectors(value)
        assert "hunter2" not in str(refused.value)
        assert "must be a JSON list" in str(refused.value)
