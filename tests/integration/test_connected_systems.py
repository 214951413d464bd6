"""A case end to end on the systems a company already has: its records in an Odoo database
(PostgreSQL, by the SQL mapping in examples/connectors/odoo.toml) beside the reference CRM, and
its customers' logins in a SCIM 2.0 identity provider. The real dev server, worker and API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from tests.connectors.odoo import (
    ACCOUNT_MOVE,
    CRM_LEAD,
    MAIL_MESSAGE,
    MAPPING,
    RES_PARTNER,
    SALE_ORDER,
    add_odoo_customer,
    odoo_database,
)
from tests.integration.helpers import decide, new_customer, open_case, open_task, wait_case
from tests.integration.stack import Stack, start_stack
from tests.scim_service import SCIM_TOKEN, ScimDirectory

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def odoo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with odoo_database(request, "postgresql", tmp_path_factory.mktemp("odoo")) as url:
        yield url


@pytest.fixture(scope="module")
def connected(
    tmp_path_factory: pytest.TempPathFactory, odoo: str, scim_url: str
) -> Iterator[Stack]:
    connectors = [
        {"kind": "sql", "name": "odoo", "url": odoo, "mapping": str(MAPPING)},
        {"kind": "scim", "name": "idp", "url": scim_url, "token": SCIM_TOKEN, "timeout": 10},
    ]
    root = Path(tmp_path_factory.mktemp("connected"))
    yield from start_stack(root, CLOSEOUT_CONNECTORS=json.dumps(connectors))


def _odoo_rows(url: str, partner_ref: str | None, partner_id: int) -> dict[str, int]:
    engine = create_engine(url)
    counted = {}
    with engine.connect() as conn:
        for table, column in (
            (CRM_LEAD, CRM_LEAD.c.partner_id),
            (SALE_ORDER, SALE_ORDER.c.partner_id),
            (ACCOUNT_MOVE, ACCOUNT_MOVE.c.partner_id),
            (MAIL_MESSAGE, MAIL_MESSAGE.c.res_id),
        ):
            theirs = column == partner_id
            if table is MAIL_MESSAGE:  # the chatter of the partner, not of another model
                theirs = theirs & (MAIL_MESSAGE.c.model == "res.partner")
            found = conn.execute(select(func.count()).select_from(table).where(theirs))
            counted[table.name] = int(found.scalar_one())
        counted["named"] = int(
            conn.execute(
                select(func.count())
                .select_from(RES_PARTNER)
                .where(RES_PARTNER.c.ref == partner_ref)
            ).scalar_one()
        )
    engine.dispose()
    return counted


def test_a_case_closes_and_deletes_the_customer_in_every_connected_system(
    connected: Stack, odoo: str, scim_directory: ScimDirectory
) -> None:
    customer = new_customer(connected)
    add_odoo_customer(odoo, customer)
    engine = create_engine(odoo)
    with engine.connect() as conn:
        partner_id = conn.execute(
            select(RES_PARTNER.c.id).where(RES_PARTNER.c.ref == customer)
        ).scalar_one()
    engine.dispose()
    users = scim_directory.organisation(customer, users=2)
    with connected.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        assert decide(api, open_task(api, case_id, "win_back")["id"], "failed").status_code == 202
        approval = open_task(api, case_id, "approval")
        assert decide(api, approval["id"], "approve", comment="gone").status_code == 202
        final = wait_case(api, case_id, outcome="deleted", timeout=180)
    events = {e["action"]: e for e in final["timeline"]}
    # Backed up from both systems, access revoked at both.
    backed_up = events["backup_created"]["details"]["record_counts"]
    assert backed_up["odoo.mail_message"] == 2 and backed_up["odoo.account_move"] == 2
    assert backed_up["odoo.customer"] == 1 and backed_up["customer"] == 1
    revoked = events["access_revoked"]["details"]
    assert revoked["idp.users_deactivated"] == 2 and revoked["portal_users_disabled"] == 1
    assert not any(scim_directory.active(u) for u in users)
    # Minimised when archived, each category deleted on its own date, then the customer.
    assert events["customer_archived"]["details"]["minimised"]["odoo.crm_lead"] == 1
    assert _odoo_rows(odoo, customer, partner_id) == {
        "crm_lead": 0,
        "sale_order": 1,  # the books keep the amounts, emptied of free text
        "account_move": 0,
        "mail_message": 0,
        "named": 0,
    }
    engine = create_engine(odoo)
    with engine.connect() as conn:
        partner = conn.execute(select(RES_PARTNER).where(RES_PARTNER.c.id == partner_id)).one()
        order = conn.execute(select(SALE_ORDER).where(SALE_ORDER.c.partner_id == partner_id)).one()
        others = conn.execute(select(func.count()).select_from(MAIL_MESSAGE)).scalar_one()
    engine.dispose()
    assert (partner.name, partner.email, partner.vat) == ("Deleted customer", None, None)
    assert order.note is None and order.client_order_ref is None
    assert others == 1  # another model's chatter with the same id was not theirs
    # The certificate names every system checked and what each gave up.
    with connected.client("compliance") as compliance:
        certificate = compliance.get(f"/api/cases/{case_id}/certificate").json()
    assert certificate["authentic"]
    body = certificate["certificate"]
    assert body["verification"]["stores_checked"][:3] == ["crm", "odoo", "idp"]
    by_category = {d["categories"][0]: d["removed"] for d in body["deletions"]}
    assert by_category["interaction_history"]["odoo"] == {"crm_lead": 0, "mail_message": 0}
    assert by_category["contact_data"]["odoo"] == {"res_partner": 1}  # the company's person
    assert by_category["contracts"]["odoo"] == {"sale_order": 1}
    last = by_category["accounting_records"]["odoo"]  # with the customer's own row
    assert (last["account_move"], last["customer"]) == (2, 1)
    assert body["stores"]["odoo"]["sale_order"] == 1 and body["stores"]["odoo"]["customer"] == 1


# ---------------------------------------------------------------- Odoo as the customer source


@pytest.fixture(scope="module")
def odoo_source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, scim_url: str
) -> Iterator[tuple[Stack, str]]:
    """A stack whose customers are Odoo's partners: the reference CRM takes no part."""
    with odoo_database(request, "postgresql", tmp_path_factory.mktemp("odoo-source")) as url:
        connectors = [
            {"kind": "sql", "name": "odoo", "url": url, "mapping": str(MAPPING), "source": True},
            {"kind": "scim", "name": "idp", "url": scim_url, "token": SCIM_TOKEN},
        ]
        root = Path(tmp_path_factory.mktemp("odoo-source-stack"))
        for stack in start_stack(root, CLOSEOUT_CONNECTORS=json.dumps(connectors)):
            yield stack, url


def _partner(url: str, customer: str) -> Any:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(select(RES_PARTNER).where(RES_PARTNER.c.ref == customer)).one()
    engine.dispose()
    return found


def test_a_customer_only_odoo_knows_is_closed_from_odoo(
    odoo_source: tuple[Stack, str], scim_directory: ScimDirectory
) -> None:
    stack, odoo = odoo_source
    customer = f"it-{uuid.uuid4().hex[:8]}"
    email = f"{customer}@acme.example"
    add_odoo_customer(odoo, customer, email=email)  # the salesperson is li.na's login
    partner_id = _partner(odoo, customer).id
    users = scim_directory.organisation(customer, users=1)
    with stack.client("owner") as api:
        detail = api.get(f"/api/customers/{customer}")
        assert detail.status_code == 200, detail.text
        assert detail.json()["name"] == f"Acme {customer}" and detail.json()["email"] == email
        assert detail.json()["record_counts"]["odoo.account_move"] == 2
        assert not any("." not in t for t in detail.json()["record_counts"])  # no CRM tables
        assert api.get("/api/customers/it-nobody").status_code == 404
        body = {"customer_id": "it-nobody", "trigger": "inactivity", "policy": "demo",
                "evidence": {"inactive_days": 400}}  # fmt: skip
        refused = api.post("/api/cases", json=body)
        assert refused.status_code == 404, refused.text
        case_id = open_case(api, customer)["case_id"]
        assert decide(api, open_task(api, case_id, "win_back")["id"], "failed").status_code == 202
        approval = open_task(api, case_id, "approval")
        assert decide(api, approval["id"], "approve", comment="gone").status_code == 202
        final = wait_case(api, case_id, outcome="deleted", timeout=180)
    # Every notice went to the address Odoo holds, in the partner's language's catalogue.
    to_customer = [m for m in stack.mail.messages if email in str(m["To"])]
    assert len(to_customer) >= 3
    events = {e["action"]: e for e in final["timeline"]}
    backed_up = events["backup_created"]["details"]["record_counts"]
    assert backed_up["odoo.customer"] == 1 and "customer" not in backed_up
    assert not any(scim_directory.active(u) for u in users)
    assert _odoo_rows(odoo, customer, partner_id)["named"] == 0
    engine = create_engine(odoo)
    with engine.connect() as conn:
        status = conn.execute(
            select(RES_PARTNER.c.x_closeout_status).where(RES_PARTNER.c.id == partner_id)
        ).scalar_one()
    engine.dispose()
    assert status == "restricted"  # what Odoo's people last saw of the closing
    with stack.client("compliance") as compliance:
        certificate = compliance.get(f"/api/cases/{case_id}/certificate").json()
    assert certificate["authentic"]
    checked = certificate["certificate"]["verification"]["stores_checked"]
    assert checked[:2] == ["odoo", "idp"] and "crm" not in checked
