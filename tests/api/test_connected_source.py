"""The pages and the JSON API with a company's own CRM as the customer source: an Odoo-shaped
database (examples/connectors/odoo.toml, `source = true`) instead of the reference CRM. Who a
customer is, whose they are and their account history come from there; a source that cannot
answer is a 503 that names it, never a 500."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from closeout.connectors.config import parse_connectors
from closeout.contracts import AuditEntry, CaseOpened, CloseCustomerInput, OpenTask
from closeout.db import Database
from closeout.demo import seed_demo_users
from closeout.domain import Role, TaskKind, Trigger
from closeout.settings import Settings
from closeout.tokens import create_token
from closeout.users.accounts import Accounts
from tests.api.conftest import LI, SAM, ReadModel, sign_in
from tests.connectors.odoo import MAPPING, add_odoo_customer, create
from tests.support import read_model as sealed_read_model

CUSTOMER = "odoo-0001"


@pytest.fixture
def odoo(tmp_path: Path) -> Path:
    path = tmp_path / "odoo.db"
    create(f"sqlite:///{path}")
    add_odoo_customer(f"sqlite:///{path}", CUSTOMER, email="billing@acme.example")
    return path


@pytest.fixture
def read_model(db: Database) -> ReadModel:
    """Staff and a read model; no customer in the reference CRM (Odoo is the source)."""
    seed_demo_users(Accounts(db, dev_mode=True))
    return ReadModel(sealed_read_model(db))


@pytest.fixture
def web_settings(settings: Settings, odoo: Path) -> Settings:
    connectors = [
        {"kind": "sql", "name": "odoo", "url": f"sqlite:///{odoo}", "mapping": str(MAPPING),
         "source": True, "timeout": 2},
    ]  # fmt: skip
    return settings.model_copy(update={"connectors": parse_connectors(connectors)})


def _case_with_task(read_model: ReadModel) -> tuple[str, str]:
    case_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    read_model.repo.record_case_opened(
        CaseOpened(
            CloseCustomerInput(
                case_id,
                CUSTOMER,
                Trigger.INACTIVITY,
                "natural",
                "standard",
                "system",
                {"inactive_days": 400},
            ),
            f"close-customer-{CUSTOMER}",
            "run-1",
            AuditEntry(str(uuid.uuid4()), "system", "case_opened", now),
        ),
        owner=LI,
        value_tier="standard",
    )
    read_model.repo.open_task(
        OpenTask(
            task_id, case_id, CUSTOMER, TaskKind.APPROVAL, LI, now + timedelta(days=5),
            AuditEntry(str(uuid.uuid4()), "system", "task_opened", now),
        )
    )  # fmt: skip
    return case_id, task_id


def _bearer(db: Database, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(db, name, Role.ACCOUNT_MANAGER)}"}


def test_the_task_page_weighs_the_history_odoo_holds(
    client: TestClient, read_model: ReadModel
) -> None:
    _case, task_id = _case_with_task(read_model)
    sign_in(client, LI)
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200, page.text
    for seen in (f"Acme {CUSTOMER}", "749.95", "1,499.90"):
        assert seen in page.text
    # Odoo knows an invoice is paid, not when: one settled, one still owed (Li Na reads
    # Chinese).
    rows = {
        n: re.search(rf"<tr><td>INV/2024/{n}</td>.*?</tr>", page.text) for n in ("00001", "00002")
    }
    assert "已付清" in rows["00001"].group(0) and "未付款" in rows["00002"].group(0)  # type: ignore[union-attr]


def test_customers_are_odoo_partners_and_their_salesperson_owns_them(
    read_model: ReadModel, client: TestClient, db: Database
) -> None:
    found = client.get("/api/customers", params={"q": "odoo-"}, headers=_bearer(db, LI))
    assert found.status_code == 200, found.text
    assert [(c["id"], c["owner"]) for c in found.json()["items"]] == [(CUSTOMER, LI)]
    detail = client.get(f"/api/customers/{CUSTOMER}", headers=_bearer(db, LI))
    assert detail.status_code == 200 and detail.json()["email"] == "billing@acme.example"
    assert detail.json()["record_counts"]["odoo.sale_order"] == 1
    # Another account manager's: not theirs to see.
    assert client.get(f"/api/customers/{CUSTOMER}", headers=_bearer(db, SAM)).status_code == 403
    assert client.get("/api/customers/nobody", headers=_bearer(db, LI)).status_code == 404


def test_a_source_that_cannot_answer_is_a_503_naming_it(
    client: TestClient, read_model: ReadModel, db: Database, odoo: Path
) -> None:
    odoo.unlink()  # the database is gone: an empty one has none of the mapped tables
    answer = client.get(f"/api/customers/{CUSTOMER}", headers=_bearer(db, LI))
    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"].startswith("odoo: ") and "res_partner" in answer.json()["detail"]
    assert answer.headers["Retry-After"] == "30"
