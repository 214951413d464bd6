"""A case's record steps over the reference CRM and a connected database at once: the backup
holds both, archiving minimises both, a reactivation restores both, the deletion takes both and
is verified in both; a system that cannot answer fails a step (retried), never passes it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from closeout.connectors.sql_data import SqlMappedData
from closeout.db import Database
from tests.activities.conftest import World
from tests.conftest import make_settings
from tests.connectors.odoo import MAPPING, add_odoo_customer, create
from tests.support import MailSink

run = ActivityEnvironment().run


def _world(tmp_path: Path, sqlite_url: str, mail: MailSink, odoo: str) -> World:
    connectors = [{"kind": "sql", "name": "odoo", "url": odoo, "mapping": str(MAPPING)}]
    settings = make_settings(tmp_path, sqlite_url, mail, connectors=connectors)
    return World(settings, Database.from_url(sqlite_url))


@pytest.fixture
def odoo(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/odoo.db"
    create(url)
    return url


@pytest.fixture
def world(tmp_path: Path, sqlite_url: str, mail: MailSink, odoo: str) -> Iterator[World]:
    built = _world(tmp_path, sqlite_url, mail, odoo)
    yield built
    built.db.engine.dispose()


def _odoo(world: World) -> SqlMappedData:
    found = next(s for s in world.activities.data if s.name == "odoo")
    assert isinstance(found, SqlMappedData)
    return found


def test_backup_archive_restore_and_delete_reach_both_systems(world: World, odoo: str) -> None:
    customer = world.customer()
    held = add_odoo_customer(odoo, customer)
    case_id, bundle_id = world.case(customer), str(uuid.uuid4())
    backup = run(
        world.activities.backup_customer_data,
        world.step(case_id, customer, "backup_created", bundle_id),
    )
    assert backup.record_counts["odoo.mail_message"] == held["mail_message"] == 2
    assert backup.record_counts["interactions"] == 6
    run(world.activities.verify_backup, world.step(case_id, customer, "verified", bundle_id))
    archived = run(world.activities.archive_customer, world.step(case_id, customer, "archived"))
    assert (archived["odoo.crm_lead"], archived["odoo.mail_message"]) == (1, 2)
    assert "mail_message" not in _odoo(world).remaining(customer)

    restored = run(
        world.activities.restore_customer, world.step(case_id, customer, "reactivated", bundle_id)
    )
    assert (restored["odoo.crm_lead"], restored["odoo.mail_message"]) == (1, 2)
    assert _odoo(world).remaining(customer)["mail_message"] == 2

    removed = run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    assert removed["odoo.account_move"] == 2 and removed["odoo.customer"] == 1
    assert removed["customer"] == 1
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))
    assert _odoo(world).remaining(customer) == {}


def test_a_customer_the_database_does_not_hold_has_nothing_there(world: World) -> None:
    customer = world.customer()  # in the reference CRM only
    case_id, bundle_id = world.case(customer), str(uuid.uuid4())
    backup = run(
        world.activities.backup_customer_data,
        world.step(case_id, customer, "backup_created", bundle_id),
    )
    assert not any(t.startswith("odoo.") for t in backup.record_counts)
    archived = run(world.activities.archive_customer, world.step(case_id, customer, "archived"))
    assert not any(t.startswith("odoo.") for t in archived)
    run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))


def test_a_database_that_cannot_answer_fails_the_steps_never_passes_them(
    tmp_path: Path, sqlite_url: str, mail: MailSink, odoo: str
) -> None:
    gone = _world(tmp_path, sqlite_url, mail, f"sqlite:///{tmp_path}/missing/odoo.db")
    customer = gone.customer()
    case_id = gone.case(customer)
    for activity, action in (
        (gone.activities.backup_customer_data, "backup_created"),
        (gone.activities.archive_customer, "archived"),
        (gone.activities.delete_customer_data, "deleted"),
        (gone.activities.verify_deletion, "deletion_verified"),
    ):
        with pytest.raises(ApplicationError) as failed:
            run(activity, gone.step(case_id, customer, action, str(uuid.uuid4())))
        assert failed.value.type == "ConnectorUnavailable" and not failed.value.non_retryable
        assert "odoo" in str(failed.value)
    gone.db.engine.dispose()
