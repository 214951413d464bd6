"""The API in-process on a migrated SQLite database, with demo users and a read model.

The read model is written through the same repository the activities use; pages and routes
that only read need no Temporal server.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from closeout.cases.repository import CaseRepository
from closeout.contracts import AuditEntry, CaseOpened, CloseCustomerInput, OpenTask
from closeout.db import Database
from closeout.demo import seed_demo, seed_demo_users
from closeout.domain import (
    ACCOUNT_MANAGER_GROUP,
    DEFAULT_CHURN_CLASS,
    MANAGER_GROUP,
    TaskKind,
    Trigger,
)
from closeout.settings import Settings
from closeout.users.accounts import DEMO_PASSWORD, Accounts
from tests.support import read_model as sealed_read_model

LI = "li.na@example.com"
SAM = "sam.okafor@example.com"
GRACE = "grace.manager@example.com"
KIM = "kim.compliance@example.com"
ADMIN = "admin@example.com"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ReadModel:
    """Cases and tasks as the worker would have recorded them."""

    repo: CaseRepository

    def case(self, customer_id: str, trigger: Trigger = Trigger.INACTIVITY) -> str:
        case_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        self.repo.record_case_opened(
            CaseOpened(
                CloseCustomerInput(
                    case_id, customer_id, trigger, DEFAULT_CHURN_CLASS[trigger], "standard",
                    "system", {"inactive_days": 400},
                ),
                f"close-customer-{customer_id}",
                "run-1",
                AuditEntry(str(uuid.uuid4()), "system", "case_opened", now),
            ),
            owner=self.owner_of(customer_id),
            value_tier="standard",
        )  # fmt: skip
        return case_id

    def owner_of(self, customer_id: str) -> str:
        from closeout.crm.reference import ReferenceCrm

        profile = ReferenceCrm(self.repo.db).get_profile(customer_id)
        assert profile is not None
        return profile.owner

    def task(
        self, case_id: str, kind: TaskKind, assignee: str, due_in: timedelta = timedelta(days=5)
    ) -> str:
        task_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        case = self.repo.get_case(case_id)
        assert case is not None
        self.repo.open_task(
            OpenTask(
                task_id, case_id, case.customer_id, kind, assignee, now + due_in,
                AuditEntry(str(uuid.uuid4()), "system", "task_opened", now),
            )
        )  # fmt: skip
        return task_id


@dataclass
class Scene:
    """Who owns what: one task per kind of visibility the pages must get right."""

    li_case: str
    li_task: str
    sam_case: str
    sam_task: str
    queue_task: str
    manager_task: str


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return settings


@pytest.fixture
def read_model(db: Database) -> ReadModel:
    seed_demo(db, count=12)
    seed_demo_users(Accounts(db, dev_mode=True))
    return ReadModel(sealed_read_model(db))


@pytest.fixture
def scene(read_model: ReadModel) -> Scene:
    # Demo owners rotate: cust-0003 is Li Na's, cust-0001 Sam's, cust-0002 Maria's.
    li_case = read_model.case("cust-0003")
    sam_case = read_model.case("cust-0001")
    other = read_model.case("cust-0002")
    return Scene(
        li_case=li_case,
        li_task=read_model.task(li_case, TaskKind.APPROVAL, LI, due_in=timedelta(hours=-2)),
        sam_case=sam_case,
        sam_task=read_model.task(sam_case, TaskKind.WIN_BACK, SAM),
        queue_task=read_model.task(other, TaskKind.OBJECTION_REVIEW, ACCOUNT_MANAGER_GROUP),
        manager_task=read_model.task(other, TaskKind.SECOND_APPROVAL, MANAGER_GROUP),
    )


@pytest.fixture
def client(web_settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings), follow_redirects=False) as c:
        yield c


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = DEMO_PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/cases").text)
