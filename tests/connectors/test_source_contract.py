"""The contract every customer source passes (closeout/crm/port.py's `CustomerSource`), run
against each: the reference CRM, the SQL mapping adapter over an Odoo-shaped database
(examples/connectors/odoo.toml's [source]) on SQLite and on PostgreSQL, and Salesforce (a local
server answering with its REST API's shapes).

A source says who a customer is (profile, details, contact, account history), finds them by
words, owner, status and address, takes the status a case writes and the bounces it counts,
and forgets a customer the suppression ledger names everywhere at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, insert, select, update

from closeout.connectors.config import SqlConnector, parse_connectors
from closeout.connectors.errors import AmbiguousCustomer
from closeout.connectors.salesforce import SalesforceData
from closeout.connectors.salesforce_source import SalesforceSource
from closeout.connectors.sql_data import SqlMappedData
from closeout.connectors.sql_mapping import SqlMapping, load_mapping
from closeout.connectors.sql_rows import sql_engine
from closeout.connectors.sql_source import SqlCustomerSource
from closeout.crm.adapters import crm_from
from closeout.crm.models import CrmContact, CrmInvoice
from closeout.crm.port import CustomerSource
from closeout.db import Database, table_of
from closeout.demo import add_customer
from closeout.domain import CustomerStatus, ValueTier
from closeout.settings import Settings
from closeout.suppression.ledger import SuppressionLedger, ledger_from
from tests.connectors.odoo import (
    MAPPING,
    RES_PARTNER,
    SALESPERSON,
    add_odoo_customer,
    create,
    odoo_database,
)
from tests.connectors.salesforce_server import LocalSalesforce, local_salesforce
from tests.connectors.test_data_contract import SALESFORCE_TOKEN

OTHER_OWNER = "tom.wu@example.com"


@dataclass
class SourceUnderTest:
    source: CustomerSource
    # A new customer of that owner and address; their id.
    seed: Callable[[str, str], str]
    ledger: SuppressionLedger
    # The bounces counted against the customer, as the system itself holds them.
    bounces: Callable[[str], int]
    # Another contact of the customer (a clerk) with that address.
    add_contact: Callable[[str, str], None] = lambda _customer, _email: None
    # Whether the system holds invoices (Salesforce has no standard object for them).
    invoices: bool = True


def _crm_source(settings: Settings, db: Database) -> SourceUnderTest:
    ledger = ledger_from(settings)

    def seed(owner: str, email: str) -> str:
        customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        with db.session() as session:
            customer = add_customer(session, customer_id, name=f"Acme {customer_id}", owner=owner)
            customer.email = email
            session.add(customer)
        invoices = table_of(CrmInvoice)
        with db.transaction() as connection:  # the latest invoice still owed
            latest = connection.execute(
                select(invoices.c.id)
                .where(invoices.c.customer_id == customer_id)
                .order_by(invoices.c.issued_at.desc())
                .limit(1)
            ).scalar_one()
            connection.execute(update(invoices).where(invoices.c.id == latest).values(paid_at=None))
        return customer_id

    def bounces(customer_id: str) -> int:
        contacts = table_of(CrmContact)
        with db.transaction() as connection:
            counted = connection.execute(
                select(func.sum(contacts.c.bounce_count)).where(
                    contacts.c.customer_id == customer_id
                )
            ).scalar_one()
            return int(counted or 0)

    def add_contact(customer_id: str, email: str) -> None:
        with db.session() as session:
            session.add(CrmContact(id=f"{customer_id}-clerk", customer_id=customer_id,
                                   name="A clerk", email=email, is_primary=False))  # fmt: skip

    return SourceUnderTest(crm_from(settings, db, ledger), seed, ledger, bounces, add_contact)


def odoo_source(
    settings: Settings, url: str, mapping: SqlMapping | None = None
) -> SqlCustomerSource:
    system = SqlMappedData(
        "odoo", sql_engine(url, timeout=5), mapping or load_mapping(MAPPING), ledger_from(settings)
    )
    return SqlCustomerSource(system)


def _partner_id(url: str, customer_id: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(select(RES_PARTNER.c.id).where(RES_PARTNER.c.ref == customer_id))
        partner = int(found.scalar_one())
    engine.dispose()
    return partner


def _execute(url: str, statement: Any) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(statement)
    engine.dispose()


def _odoo_source(settings: Settings, url: str) -> SourceUnderTest:
    source = odoo_source(settings, url)

    def seed(owner: str, email: str) -> str:
        customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        add_odoo_customer(url, customer_id, email=email, salesperson=owner)
        return customer_id

    def bounces(customer_id: str) -> int:
        engine = create_engine(url)
        with engine.begin() as conn:
            found = conn.execute(
                select(RES_PARTNER.c.message_bounce).where(RES_PARTNER.c.ref == customer_id)
            ).scalar_one()
        engine.dispose()
        return int(found)

    def add_contact(customer_id: str, email: str) -> None:
        partner = _partner_id(url, customer_id)
        _execute(url, insert(RES_PARTNER).values(name="A clerk", parent_id=partner, email=email))

    return SourceUnderTest(source, seed, source.system.ledger, bounces, add_contact)


def _salesforce_source(settings: Settings, org: LocalSalesforce) -> SourceUnderTest:
    data = SalesforceData(
        "salesforce", org.url, lambda: SALESFORCE_TOKEN, ledger_from(settings),
        ca_file=str(org.ca_file),
    )  # fmt: skip
    source = SalesforceSource(
        data, status_field="Closeout_Status__c", default_owner="am.unassigned@example.com"
    )

    def seed(owner: str, email: str) -> str:
        customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        account = org.account(customer_id, owner=owner)
        with org.org.lock:
            org.org.records["Account"][account]["Name"] = f"Acme {customer_id}"
            first = next(
                c for c in org.org.records["Contact"].values() if c["AccountId"] == account
            )
            first["Email"] = email
        return customer_id

    def bounces(customer_id: str) -> int:
        with org.org.lock:
            (account,) = (a["Id"] for a in org.org.records["Account"].values()
                          if a["Closeout_Id__c"] == customer_id)  # fmt: skip
            return sum(1 for c in org.org.records["Contact"].values()
                       if c["AccountId"] == account and c.get("EmailBouncedReason"))  # fmt: skip

    def add_contact(customer_id: str, email: str) -> None:
        account = data.account_id(customer_id)
        org.org.create("Contact", {"AccountId": account, "LastName": "Clerk", "Email": email})

    return SourceUnderTest(source, seed, data.ledger, bounces, add_contact, invoices=False)


@pytest.fixture(params=["crm", "sqlite", "postgresql", "salesforce"])
def source(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> Iterator[SourceUnderTest]:
    if request.param == "crm":
        yield _crm_source(settings, request.getfixturevalue("db"))
        return
    if request.param == "salesforce":
        with local_salesforce(tmp_path, SALESFORCE_TOKEN) as org:
            yield _salesforce_source(settings, org)
        return
    with odoo_database(request, request.param, tmp_path) as url:
        yield _odoo_source(settings, url)


def _email() -> str:
    return f"Billing-{uuid.uuid4().hex[:6]}@Acme.example"


def test_a_customer_is_who_the_source_says(source: SourceUnderTest) -> None:
    email = _email()
    customer_id = source.seed(SALESPERSON, email)
    profile = source.source.get_profile(customer_id)
    assert profile is not None and profile.id == customer_id
    assert profile.owner == SALESPERSON and profile.status == CustomerStatus.ACTIVE
    assert profile.value_tier in set(ValueTier) and profile.locale
    details = source.source.customer(customer_id)
    assert details is not None and details.name == f"Acme {customer_id}"
    assert details.email == email and details.owner == SALESPERSON
    assert details.created_at.year >= 2020
    contact = source.source.primary_contact(customer_id)
    assert contact is not None and "@" in contact.email and contact.locale == profile.locale
    # Someone who never was a customer there.
    assert source.source.get_profile("cust-nobody") is None
    assert source.source.customer("cust-nobody") is None
    assert source.source.account_history("cust-nobody") is None
    assert source.source.primary_contact("cust-nobody") is None


def test_the_account_history_weighs_orders_invoices_and_talks(source: SourceUnderTest) -> None:
    customer_id = source.seed(SALESPERSON, _email())
    history = source.source.account_history(customer_id)
    assert history is not None and history.name == f"Acme {customer_id}"
    assert history.owner == SALESPERSON and history.status == CustomerStatus.ACTIVE
    assert history.orders >= 1 and history.order_value_cents > 0
    assert history.last_order_at is not None and history.last_order_at.tzinfo is not None
    assert history.interactions >= 1 and history.last_interaction_at is not None
    if not source.invoices:
        assert history.recent_invoices == [] and history.unpaid_cents == 0
        return
    assert history.recent_invoices and history.unpaid_cents > 0
    settled = [i.paid_at is not None or bool(i.paid) for i in history.recent_invoices]
    assert True in settled and False in settled  # one paid, one still owed
    assert all(i.amount_cents > 0 and i.due_at >= i.issued_at for i in history.recent_invoices)


def test_search_by_words_owner_and_status(source: SourceUnderTest) -> None:
    mine = source.seed(SALESPERSON, _email())
    theirs = source.seed(OTHER_OWNER, _email())
    found, total = source.source.search(mine, None, 10, 0)
    assert [c.id for c in found] == [mine] and total == 1
    found, _ = source.source.search(mine[-8:].upper(), None, 10, 0)  # case does not matter
    assert [c.id for c in found] == [mine]
    found, _ = source.source.search("cust-", None, 500, 0, owner=OTHER_OWNER)
    assert theirs in {c.id for c in found} and mine not in {c.id for c in found}
    _, every = source.source.search("cust-", None, 1, 0)
    page, again = source.source.search("cust-", None, 1, 1)
    assert every == again >= 2 and len(page) == 1
    assert source.source.names([mine, theirs, "cust-nobody"]) == {
        mine: f"Acme {mine}",
        theirs: f"Acme {theirs}",
    }
    assert {mine, theirs} <= set(source.source.customer_ids(batch=1))


def test_the_status_a_case_writes_is_read_back(source: SourceUnderTest) -> None:
    customer_id = source.seed(SALESPERSON, _email())
    source.source.set_status(customer_id, CustomerStatus.CLOSING)
    profile = source.source.get_profile(customer_id)
    assert profile is not None and profile.status == CustomerStatus.CLOSING
    closing, _ = source.source.search(customer_id, CustomerStatus.CLOSING, 10, 0)
    active, _ = source.source.search(customer_id, CustomerStatus.ACTIVE, 10, 0)
    assert [c.id for c in closing] == [customer_id] and active == []
    source.source.set_status(customer_id, CustomerStatus.ACTIVE)
    source.source.set_status(customer_id, CustomerStatus.ACTIVE)  # idempotent
    profile = source.source.get_profile(customer_id)
    assert profile is not None and profile.status == CustomerStatus.ACTIVE


def test_who_speaks_for_a_customer_and_their_bounces(source: SourceUnderTest) -> None:
    email = _email()
    customer_id = source.seed(SALESPERSON, email)
    assert source.source.customers_with_email(f"  {email.upper()} ") == [customer_id]
    assert source.source.customers_with_email("nobody@acme.example") == []
    # A clerk, someone who left: their address does not speak for the customer.
    source.add_contact(customer_id, "clerk@acme.example")
    assert source.source.customers_with_email("clerk@acme.example") == []
    contact = source.source.primary_contact(customer_id)
    assert contact is not None
    before = source.bounces(customer_id)
    source.source.record_bounce(customer_id, contact.email)
    assert source.bounces(customer_id) == before + 1
    source.source.record_bounce(customer_id, "someone-else@acme.example")
    assert source.bounces(customer_id) == before + 1


def test_a_customer_deleted_for_good_is_unknown_everywhere(source: SourceUnderTest) -> None:
    email = _email()
    customer_id = source.seed(SALESPERSON, email)
    source.ledger.suppress(customer_id, str(uuid.uuid4()), datetime.now(UTC))
    assert source.source.get_profile(customer_id) is None
    assert source.source.customer(customer_id) is None
    assert source.source.account_history(customer_id) is None
    assert source.source.primary_contact(customer_id) is None
    assert source.source.customers_with_email(email) == []
    assert source.source.names([customer_id]) == {}
    assert source.source.search(customer_id, None, 10, 0)[0] == []


# ---------------------------------------------------------------- the SQL adapter's own


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_rows_under_one_id_are_refused_not_guessed_between(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path, kind: str
) -> None:
    with odoo_database(request, kind, tmp_path) as url:
        add_odoo_customer(url, "cust-twice")
        add_odoo_customer(url, "cust-twice", email="other@acme.example")
        source = odoo_source(settings, url)
        with pytest.raises(AmbiguousCustomer):
            source.get_profile("cust-twice")
        with pytest.raises(AmbiguousCustomer):
            source.account_history("cust-twice")


def test_a_source_without_a_status_column_is_refused(tmp_path: Path) -> None:
    """Without it a restricted customer would read as active: mail and exports would go."""
    text = MAPPING.read_text().replace('status = "x_closeout_status"', "")
    unmarked = tmp_path / "unmarked.toml"
    unmarked.write_text(text)
    with pytest.raises(ValueError, match=r"source.status: Field required"):
        load_mapping(unmarked)
    salesforce = {"kind": "salesforce", "name": "sf", "token": "t", "source": True,
                  "instance_url": "https://example.my.salesforce.com"}  # fmt: skip
    with pytest.raises(ValueError, match="a source needs status_field"):
        parse_connectors([salesforce])
    (ok,) = parse_connectors([salesforce | {"status_field": "Closeout_Status__c"}])
    assert ok.name == "sf"


def test_a_partner_with_no_ref_is_no_customer(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/odoo.db"
    create(url)
    add_odoo_customer(url, "cust-1")
    _execute(url, insert(RES_PARTNER).values(name="Not a customer", ref=None))
    source = odoo_source(settings, url)
    assert list(source.customer_ids()) == ["cust-1"]
    source.set_status("cust-nobody", CustomerStatus.CLOSED)  # nothing to write, no error


def test_one_connector_is_the_source_and_its_mapping_says_who_customers_are(
    tmp_path: Path,
) -> None:
    entry = {"kind": "sql", "name": "odoo", "url": "sqlite://", "mapping": str(MAPPING)}
    (only,) = parse_connectors([entry | {"source": True}])
    assert isinstance(only, SqlConnector) and only.source
    with pytest.raises(ValueError, match="one connector is the customer source, not several"):
        parse_connectors([entry | {"source": True}, entry | {"name": "erp", "source": True}])
    records_only = tmp_path / "records.toml"
    text = MAPPING.read_text()
    records_only.write_text(text[text.index("[customer]") :])
    with pytest.raises(ValueError, match=r"source = true needs a \[source\] section"):
        parse_connectors([entry | {"mapping": str(records_only), "source": True}])
    (plain,) = parse_connectors([entry | {"mapping": str(records_only)}])
    assert isinstance(plain, SqlConnector) and not plain.source
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace('table = "sale_order", at', 'table = "sale_orders", at'))
    with pytest.raises(ValueError, match=r"sale_orders is not a mapped \[\[table\]\]"):
        load_mapping(wrong)


def test_salesforce_source_check_names_the_account_fields_it_lacks(
    settings: Settings, tmp_path: Path
) -> None:
    with local_salesforce(tmp_path, SALESFORCE_TOKEN) as org:
        data = SalesforceData(
            "salesforce", org.url, lambda: SALESFORCE_TOKEN, ledger_from(settings),
            ca_file=str(org.ca_file),
        )  # fmt: skip
        assert SalesforceSource(data, status_field="Closeout_Status__c").check() == []
        lacking = SalesforceSource(data, status_field="Status__c", locale_field="Lang__c")
        assert lacking.check() == ["Account.Status__c", "Account.Lang__c"]
        with pytest.raises(ValueError, match="is not a field name"):
            SalesforceSource(data, status_field="Status__c = 'x' OR Name")


def test_a_partner_without_salesperson_or_status_is_the_default_owners_and_active(
    settings: Settings, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/odoo.db"
    create(url)
    add_odoo_customer(url, "cust-1")
    _execute(url, update(RES_PARTNER).values(user_id=None, x_closeout_status=""))
    source = odoo_source(settings, url)
    default = load_mapping(MAPPING).source.default_owner  # type: ignore[union-attr]
    profile = source.get_profile("cust-1")
    assert profile is not None and (profile.owner, profile.status) == (default, "active")
    assert [c.id for c in source.search(None, "active", 10, 0, owner=default)[0]] == ["cust-1"]
    assert source.search(None, "active", 10, 0, owner="someone@example.com")[0] == []
