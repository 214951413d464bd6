"""A restored backup does not bring a deleted customer back."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from api.app import create_app
from closeout.archive import bundle_key, read_bundle
from closeout.audit.models import AuditEvent
from closeout.contracts import AuditEntry, CaseOpened, CloseCustomerInput, CustomerStep
from closeout.crm.port import CustomerSuppressed
from closeout.crm.reference import ReferenceCrm
from closeout.db import Database, upgrade
from closeout.demo import add_customer, seed_demo_users
from closeout.domain import ChurnClass, Role, Trigger
from closeout.settings import Settings
from closeout.suppression.ledger import ledger_from
from closeout.tokens import create_token
from closeout.users.accounts import Accounts
from tests.conftest import make_settings
from tests.postgres import postgres_bindir
from tests.support import VENV_BIN, MailSink, chain_report
from worker import build_activities

run = ActivityEnvironment().run


def entry(action: str) -> AuditEntry:
    return AuditEntry(str(uuid.uuid4()), "system", action, datetime.now(UTC))


def sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite database (what a backup tool takes)."""
    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEOUT_")}
    env.update(
        {
            "CLOSEOUT_DEV_MODE": "true",
            "CLOSEOUT_DATABASE_URL": settings.database_url,
            "CLOSEOUT_VAR_DIR": str(settings.var_dir),
            "CLOSEOUT_ARCHIVE_DIR": str(settings.archive_dir),
        }
    )
    return env


class Backups:
    """The database's backup and restore as the README's runbook takes them: `pg_dump` and
    `pg_restore` on PostgreSQL, SQLite's online backup for a single-machine install."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url, self.folder = url, folder

    def take(self) -> None:
        if self.url.startswith("sqlite"):
            sqlite_copy(Path(self.url.removeprefix("sqlite:///")), self.folder / "backup.db")
            return
        self._pg("pg_dump", "--format=custom", f"--file={self.folder / 'closeout.dump'}", self.url)

    def restore(self) -> None:
        if self.url.startswith("sqlite"):
            sqlite_copy(self.folder / "backup.db", Path(self.url.removeprefix("sqlite:///")))
            return
        self._pg(
            "pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={self.url}",
            str(self.folder / "closeout.dump"),
        )  # fmt: skip

    @staticmethod
    def _pg(tool: str, *args: str) -> None:
        bindir = postgres_bindir()
        assert bindir is not None
        done = subprocess.run(
            [str(bindir / tool), *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_restored_database_and_archive_do_not_resurrect_a_deleted_customer(
    engine: str, tmp_path: Path, mail: MailSink, request: pytest.FixtureRequest
) -> None:
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'closeout.db'}"
        upgrade(url)
    else:
        url = str(request.getfixturevalue("postgres_url"))
    backups = Backups(url, tmp_path)
    settings = make_settings(tmp_path, url, mail)
    db = Database.from_url(settings.database_url)
    customer, case_id, bundle_id = "cust-restore", str(uuid.uuid4()), str(uuid.uuid4())
    with db.session() as session:
        add_customer(session, customer, name="Shop Restored", owner="li.na@example.com")
    activities = build_activities(settings, db).cases
    run(
        activities.record_case_opened,
        CaseOpened(
            CloseCustomerInput(
                case_id, customer, Trigger.INACTIVITY, ChurnClass.NATURAL, "standard", "li.na"
            ),
            f"close-customer-{customer}",
            "run-1",
            entry("case_opened"),
        ),
    )
    run(
        activities.backup_customer_data,
        CustomerStep(case_id, customer, entry("backup_created"), bundle_id),
    )
    # Nightly backups: the database and the archive directory, before the deletion.
    backups.take()
    shutil.copytree(settings.archive_dir, tmp_path / "archive-backup")

    run(
        activities.delete_customer_data,
        CustomerStep(case_id, customer, entry("customer_data_deleted"), bundle_id),
    )
    run(activities.verify_deletion, CustomerStep(case_id, customer, entry("deletion_verified")))
    ledger = ledger_from(settings)
    assert ledger.is_suppressed(customer)
    assert customer not in settings.suppression_ledger_path.read_text()  # keyed hashes only

    # Both backups are restored.
    db.engine.dispose()
    backups.restore()
    shutil.rmtree(settings.archive_dir)
    shutil.copytree(tmp_path / "archive-backup", settings.archive_dir)
    db = Database.from_url(settings.database_url)
    assert ReferenceCrm(db).remaining_records(customer)["customer"] == 1  # the rows are back

    # The CRM refuses them...
    crm = ReferenceCrm(db, ledger)
    assert crm.get_profile(customer) is None and crm.primary_contact(customer) is None
    bundle = build_activities(settings, db).cases.vault.get_bundle(customer, bundle_id)
    assert bundle is not None  # the restored database holds the wrapped key again
    with pytest.raises(CustomerSuppressed):
        crm.restore(read_bundle(bundle), ("interactions",))
    seed_demo_users(Accounts(db, dev_mode=True))
    token = create_token(db, "admin@example.com", Role.ADMIN)
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get(f"/api/customers/{customer}", headers=headers).status_code == 404
        opened = client.post(
            "/api/cases",
            headers=headers,
            json={"customer_id": customer, "trigger": "manual", "evidence": {"reason": "x"}},
        )
        assert opened.status_code == 404, opened.text
        assert "unknown customer" in opened.text.lower(), opened.text

    # ...and the restore-time check deletes them again, key and bundle included.
    closeout = str(VENV_BIN / "closeout")
    env = env_for(settings)
    check = subprocess.run(
        [closeout, "suppression", "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 1 and "1 deleted customers found again" in check.stdout
    purge = subprocess.run(
        [closeout, "suppression", "check", "--purge"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert purge.returncode == 0, purge.stderr
    assert ReferenceCrm(db).remaining_records(customer) == {}
    assert not (settings.archive_dir / bundle_key(customer, bundle_id)).exists()
    assert build_activities(settings, db).cases.vault.keys.live(customer) == 0
    with db.session() as session:
        purged = session.exec(
            select(AuditEvent).where(AuditEvent.action == "suppressed_customer_purged")
        ).one()
    assert chain_report(db, settings).intact
    assert purged.details["customer_ref"] == ledger.ref(customer)
    assert customer not in json.dumps(purged.details)
    again = subprocess.run(
        [closeout, "suppression", "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and "0 deleted customers found again" in again.stdout


def test_an_altered_ledger_is_refused(tmp_path: Path, mail: MailSink) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/closeout.db", mail)
    upgrade(settings.database_url)
    ledger = ledger_from(settings)
    for n in range(3):
        assert ledger.suppress(f"cust-{n}", f"case-{n}", datetime.now(UTC))
    assert not ledger.suppress("cust-1", "case-1", datetime.now(UTC))  # named once
    assert ledger.check().first_bad_line is None and ledger.check().entries == 3
    lines = settings.suppression_ledger_path.read_text().splitlines()
    del lines[1]  # someone removes a customer from the ledger
    settings.suppression_ledger_path.write_text("\n".join(lines) + "\n")
    assert ledger.check().first_bad_line == 2
    result = subprocess.run(
        [str(VENV_BIN / "closeout"), "suppression", "check"],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "altered at entry 2" in result.stderr
