"""The case's access steps over the CRM and a connected identity provider together
(activities/access_steps.py): every provider revoked and counted, the verification passing only
when each one confirms, and a provider's failure reported as the activity must report it."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from api.app import create_app
from closeout.db import Database
from tests.activities.conftest import World
from tests.conftest import make_settings
from tests.connectors.odoo import MAPPING, add_odoo_customer
from tests.connectors.odoo import create as _create_odoo
from tests.scim_service import SCIM_TOKEN, ScimDirectory
from tests.support import VENV_BIN, MailSink

run = ActivityEnvironment().run


def _world(tmp_path: Path, sqlite_url: str, mail: MailSink, url: str) -> World:
    connectors = [{"kind": "scim", "name": "idp", "url": url, "token": SCIM_TOKEN, "timeout": 5}]
    settings = make_settings(tmp_path, sqlite_url, mail, connectors=connectors)
    return World(settings, Database.from_url(sqlite_url))


@pytest.fixture
def world(tmp_path: Path, sqlite_url: str, mail: MailSink, scim_url: str) -> Iterator[World]:
    built = _world(tmp_path, sqlite_url, mail, scim_url)
    yield built
    built.db.engine.dispose()


def test_access_is_revoked_and_verified_on_every_provider(
    world: World, scim_directory: ScimDirectory
) -> None:
    customer = world.customer()
    users = scim_directory.organisation(customer, users=2)
    case_id = world.case(customer)
    revoked = run(world.activities.revoke_access, world.step(case_id, customer, "access_revoked"))
    assert revoked == {
        "portal_users_disabled": 1,
        "api_keys_revoked": 1,
        "subscriptions_stopped": 1,
        "idp.users_deactivated": 2,
    }
    assert not any(scim_directory.active(u) for u in users)
    run(world.activities.verify_access_revoked, world.step(case_id, customer, "verified"))
    # Someone at the identity provider lets a user back in: the verification says so.
    scim_directory.set_active(users[0], True)
    with pytest.raises(ApplicationError, match=r"idp\.active_users") as still:
        run(world.activities.verify_access_revoked, world.step(case_id, customer, "verified"))
    assert still.value.type == "AccessStillGranted"


def test_a_customer_the_identity_provider_does_not_know_has_nothing_there(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    revoked = run(world.activities.revoke_access, world.step(case_id, customer, "access_revoked"))
    assert revoked["idp.unknown"] == 1 and revoked["portal_users_disabled"] == 1
    run(world.activities.verify_access_revoked, world.step(case_id, customer, "verified"))


def test_a_provider_that_cannot_answer_fails_the_verification(
    tmp_path: Path, sqlite_url: str, mail: MailSink, answering: Callable[..., str]
) -> None:
    limited = _world(tmp_path, sqlite_url, mail, answering(429, {"Retry-After": "30"}))
    customer = limited.customer()
    case_id = limited.case(customer)
    with pytest.raises(ApplicationError) as refused:
        run(limited.activities.revoke_access, limited.step(case_id, customer, "access_revoked"))
    assert refused.value.type == "RateLimited"
    assert refused.value.next_retry_delay == timedelta(seconds=30)
    assert not refused.value.non_retryable
    with pytest.raises(ApplicationError) as unverified:
        run(limited.activities.verify_access_revoked, limited.step(case_id, customer, "verified"))
    assert unverified.value.type == "RateLimited"
    limited.db.engine.dispose()


def test_an_unknown_customer_in_the_crm_is_final(world: World) -> None:
    case_id = world.case(world.customer())
    missing = "cust-" + uuid.uuid4().hex[:8]
    with pytest.raises(ApplicationError) as refused:
        run(world.activities.revoke_access, world.step(case_id, missing, "access_revoked"))
    assert refused.value.type == "UnknownCustomer" and refused.value.non_retryable


def test_healthz_reports_each_connected_system(
    tmp_path: Path, sqlite_url: str, mail: MailSink, scim_url: str
) -> None:
    odoo = f"sqlite:///{tmp_path}/odoo.db"
    _create_odoo(odoo)
    connectors = [
        {"kind": "scim", "name": "idp", "url": scim_url, "token": SCIM_TOKEN},
        {"kind": "scim", "name": "old-idp", "url": scim_url, "token": "revoked"},
        {"kind": "sql", "name": "odoo", "url": odoo, "mapping": str(MAPPING)},
        {"kind": "sql", "name": "old-erp", "url": f"sqlite:///{tmp_path}/gone.db",
         "mapping": str(MAPPING)},
    ]  # fmt: skip
    settings = make_settings(tmp_path, sqlite_url, mail, connectors=connectors)
    with TestClient(create_app(settings)) as client:
        health = client.get("/healthz").json()
    assert health["connectors"] == {
        "crm": "ok",
        "idp": "ok",
        "old-idp": "error",
        "odoo": "ok",
        "old-erp": "error",  # an empty database: none of the mapped tables
    }
    assert health["status"] == "degraded"
    assert "revoked" not in json.dumps(health)


def test_connectors_check_reaches_each_system_and_reads_one_customer(
    tmp_path: Path, scim_url: str, scim_directory: ScimDirectory
) -> None:
    token_file = tmp_path / "scim-token"
    token_file.write_text(SCIM_TOKEN + "\n")
    config = tmp_path / "connectors.toml"
    odoo = f"sqlite:///{tmp_path}/odoo.db"
    _create_odoo(odoo)
    add_odoo_customer(odoo, "cust-0001")
    (tmp_path / "odoo-url").write_text(odoo + "\n")
    config.write_text(
        f'[[connector]]\nkind = "scim"\nname = "idp"\nurl = "{scim_url}"\n'
        f'token_file = "{token_file}"\n'
        f'[[connector]]\nkind = "sql"\nname = "odoo"\nurl_file = "{tmp_path / "odoo-url"}"\n'
        f'mapping = "{MAPPING}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEOUT_")}
    env |= {
        "CLOSEOUT_DEV_MODE": "true",
        "CLOSEOUT_DATABASE_URL": f"sqlite:///{tmp_path}/closeout.db",
        "CLOSEOUT_VAR_DIR": str(tmp_path / "var"),
        "CLOSEOUT_CONNECTORS": str(config),
    }
    closeout = [str(VENV_BIN / "closeout")]
    assert subprocess.run([*closeout, "db", "upgrade"], env=env, timeout=120).returncode == 0
    assert subprocess.run([*closeout, "seed-demo"], env=env, timeout=120).returncode == 0
    scim_directory.organisation("cust-0001", users=2)
    checked = subprocess.run(
        [*closeout, "connectors", "check", "--customer", "cust-0001"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout.splitlines()
    profile, crm_held = lines[1], lines[7]
    assert lines == [
        "customer source: crm",
        profile,
        "crm: ok (access: list, revoke, restore)",
        "  cust-0001: enabled_portal_users 1, active_sessions 1, active_api_keys 1, "
        "active_subscriptions 1 (a dry run: nothing changed)",
        "idp: ok (access: list, revoke, restore)",
        "  cust-0001: active_users 2 (a dry run: nothing changed)",
        "crm: ok (data: export, minimise, delete by category, restore, count)",
        crm_held,
        "odoo: ok (data: export, minimise, delete by category, restore, count)",
        "  cust-0001: res_partner 1, crm_lead 1, mail_message 2, sale_order 1, "
        "account_move 2, customer 1 (a dry run: nothing changed)",
    ]
    assert crm_held.startswith("  cust-0001: customer 1, contacts ")
    assert profile.startswith("  cust-0001: owner ") and profile.endswith(", status active")
    assert scim_directory.active(scim_directory.members("cust-0001")[0])
    token_file.write_text("not-the-token")
    refused = subprocess.run(
        [*closeout, "connectors", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert "idp: FAILED: idp: the credential was refused (401)" in refused.stdout
    assert "not-the-token" not in refused.stdout + refused.stderr
    env["CLOSEOUT_CONNECTORS"] = '[{"kind": "scim", "name": "crm", "url": "ftp://x"}]'
    wrong = subprocess.run(
        [*closeout, "connectors", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert wrong.returncode == 2 and "invalid configuration" in wrong.stderr
    # The demo customers fill the reference CRM: no company CRM may be the source beside it.
    source = {"kind": "sql", "name": "odoo", "url": odoo, "mapping": str(MAPPING), "source": True}
    env["CLOSEOUT_CONNECTORS"] = json.dumps([source])
    beside = subprocess.run(
        [*closeout, "connectors", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert beside.returncode == 2, beside.stderr
    assert "the reference CRM still holds customers" in beside.stderr
