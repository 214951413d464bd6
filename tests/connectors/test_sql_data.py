"""The SQL mapping adapter's own cases (closeout/connectors/sql_data.py), over the Odoo-shaped
database on SQLite and PostgreSQL: what the example mapping keeps and empties, what `check`
names, mappings refused with their reason, typed failures of the database, and the records
it refuses to guess at or overwrite. The data contract runs on it too."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from closeout.connectors.config import parse_connectors
from closeout.connectors.errors import (
    AmbiguousCustomer,
    ConnectorTimeout,
    ConnectorUnavailable,
    CredentialRefused,
)
from closeout.connectors.sql_data import SqlMappedData
from closeout.connectors.sql_mapping import load_mapping
from closeout.connectors.sql_rows import sql_engine
from closeout.domain import DataCategory
from closeout.settings import Settings
from closeout.suppression.ledger import ledger_from
from tests.connectors.data_systems import DataUnderTest
from tests.connectors.odoo import CRM_LEAD, MAPPING, RES_PARTNER, SALE_ORDER, add_odoo_customer


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
    # What the customer source reads is checked too: a custom field not yet added to Odoo.
    unbuilt = tmp_path / "unbuilt.toml"
    unbuilt.write_text(MAPPING.read_text().replace('"x_closeout_status"', '"x_closeout_state"'))
    source_of = SqlMappedData(
        "odoo", sql_engine(odoo_url, 5), load_mapping(unbuilt), ledger_from(settings)
    )
    assert source_of.check() == ["res_partner.x_closeout_state"]
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
        "account_move, res_users"
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
