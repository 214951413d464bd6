"""Sealed archives: per-customer data keys, crypto-shredding, master key rotation."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from closeout.archive import bundle_key, read_bundle
from closeout.crypto.data_keys import (
    ARCHIVE_SCOPE,
    OUTBOX_SCOPE,
    WORDS_SCOPE,
    DataKeys,
    KeyDestroyed,
)
from closeout.crypto.envelope import MAGIC, Unreadable, open_sealed
from closeout.crypto.keyring import (
    KeyUnavailable,
    LocalKeyRing,
    decode_master_key,
    new_master_key,
)
from closeout.crypto.models import DataKeyRecord
from closeout.crypto.vault import ArchiveVault, key_ring
from closeout.db import Database
from closeout.settings import Settings
from tests.activities.conftest import World
from tests.support import VENV_BIN

run = ActivityEnvironment().run


def backed_up(world: World) -> tuple[str, str, str]:
    customer = world.customer()
    case_id = world.case(customer)
    bundle_id = str(uuid.uuid4())
    run(
        world.activities.backup_customer_data,
        world.step(case_id, customer, "backup_created", bundle_id),
    )
    return customer, case_id, bundle_id


def test_bundles_are_sealed_with_the_customers_own_key(world: World) -> None:
    customer, case_id, bundle_id = backed_up(world)
    other, _, other_bundle = backed_up(world)
    blob = (world.settings.archive_dir / bundle_key(customer, bundle_id)).read_bytes()
    assert blob.startswith(MAGIC)
    assert f"Shop {customer}".encode() not in blob and b"orders" not in blob
    vault = world.activities.vault
    export = read_bundle(vault.get_bundle(customer, bundle_id) or b"")
    assert export.customer_id == customer and len(export.tables["orders"]) == 12
    # Each customer has their own key: another's key does not open this bundle.
    with pytest.raises(Unreadable):
        open_sealed(vault.keys.key(other), blob, f"closeout-bundle:{customer}:{bundle_id}".encode())
    # A bundle moved under another customer's name does not open either.
    moved = world.settings.archive_dir / bundle_key(other, other_bundle)
    moved.write_bytes(blob)
    with pytest.raises(Unreadable):
        vault.get_bundle(other, other_bundle)
    run(world.activities.verify_backup, world.step(case_id, customer, "backup_verified", bundle_id))


def test_deletion_destroys_the_key_so_backup_copies_are_unreadable(world: World) -> None:
    customer, case_id, bundle_id = backed_up(world)
    path = world.settings.archive_dir / bundle_key(customer, bundle_id)
    copy_in_a_backup = path.read_bytes()
    removed = run(
        world.activities.delete_customer_data,
        world.step(case_id, customer, "customer_data_deleted", bundle_id),
    )
    assert removed["data_keys_destroyed"] == 1 and removed["archive_bundles"] == 1
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))
    # The copy comes back (a restored file backup, folder and all): nothing can open it.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(copy_in_a_backup)
    with pytest.raises(KeyDestroyed):
        world.activities.vault.get_bundle(customer, bundle_id)
    with world.db.session() as session:
        records = session.exec(
            select(DataKeyRecord).where(DataKeyRecord.customer_id == customer)
        ).all()
    # The backup's key, and the mark that the customer is gone for good (a destroyed words
    # key): no key of theirs is made again.
    assert {r.scope for r in records} == {ARCHIVE_SCOPE, WORDS_SCOPE}
    assert all(r.wrapped is None and r.destroyed_at is not None for r in records)
    with pytest.raises(KeyDestroyed):
        DataKeys(world.db, key_ring(world.settings)).key_or_create(customer, ARCHIVE_SCOPE)


def test_reactivation_restores_from_the_sealed_archive(world: World) -> None:
    customer, case_id, bundle_id = backed_up(world)
    run(world.activities.revoke_access, world.step(case_id, customer, "access_revoked"))
    run(world.activities.archive_customer, world.step(case_id, customer, "customer_archived"))
    restored = run(
        world.activities.restore_customer,
        world.step(case_id, customer, "customer_reactivated", bundle_id),
    )
    assert restored["interactions"] == 6
    assert world.crm.get_profile(customer).status == "active"  # type: ignore[union-attr]


def test_master_key_rotates_by_rewrapping_without_touching_bundles(world: World) -> None:
    first_key, second_key = os.urandom(32), os.urandom(32)
    old_ring = LocalKeyRing({"k1": first_key}, "k1")
    vault = ArchiveVault(world.activities.archive, DataKeys(world.db, old_ring))
    customers = [world.customer() for _ in range(3)]
    for customer in customers:
        vault.put_bundle(customer, "b-1", f"bundle of {customer}".encode())
    before = {c: world.activities.archive.get(bundle_key(c, "b-1")) for c in customers}

    both = LocalKeyRing({"k1": first_key, "k2": second_key}, "k2")
    result = DataKeys(world.db, both).rotate(batch=2)
    assert (result.rewrapped, result.already_current) == (3, 0)
    assert DataKeys(world.db, both).rotate().already_current == 3  # a second run: nothing to do

    only_new = ArchiveVault(
        world.activities.archive, DataKeys(world.db, LocalKeyRing({"k2": second_key}, "k2"))
    )
    for customer in customers:
        assert world.activities.archive.get(bundle_key(customer, "b-1")) == before[customer]
        assert only_new.get_bundle(customer, "b-1") == f"bundle of {customer}".encode()
    with pytest.raises(KeyUnavailable):
        vault.get_bundle(customers[0], "b-1")  # the retired master key no longer unwraps


def test_master_keys_are_required_and_checked_outside_dev_mode(tmp_path: Path) -> None:
    base = {"secret_key": "3vX4s8VdTt0WNpuigiVzsEglf3CzIqKZKnux7OWx3vs", "var_dir": tmp_path}
    with pytest.raises(ValidationError, match="CLOSEOUT_MASTER_KEYS must hold"):
        Settings(**base)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="must decode to 32 bytes"):
        Settings(**base, master_keys={"k1": "c2hvcnQ="})  # type: ignore[arg-type]
    two = {"k1": new_master_key(), "k2": new_master_key()}
    with pytest.raises(ValidationError, match="which of several master keys"):
        Settings(**base, master_keys=two)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not among"):
        Settings(**base, master_keys=two, master_key_id="k3")  # type: ignore[arg-type]
    settings = Settings(**base, master_keys=two, master_key_id="k2")  # type: ignore[arg-type]
    assert settings.active_master_key_id == "k2" and len(settings.master_roots()) == 2


def test_keys_cli_creates_and_rotates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/closeout.db"
    closeout = str(VENV_BIN / "closeout")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEOUT_")}
    env.update(
        {
            "CLOSEOUT_SECRET_KEY": "3vX4s8VdTt0WNpuigiVzsEglf3CzIqKZKnux7OWx3vs",
            "CLOSEOUT_DATABASE_URL": url,
            "CLOSEOUT_ARCHIVE_DIR": str(tmp_path / "archive"),
        }
    )

    def closeout_run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [closeout, *args], env={**env, **extra}, capture_output=True, text=True, timeout=60
        )

    new = closeout_run("keys", "new")
    assert new.returncode == 0
    k1 = new.stdout.strip()
    k2 = closeout_run("keys", "new").stdout.strip()
    assert len(k1) == 44 and k1 != k2
    assert closeout_run("db", "upgrade", CLOSEOUT_MASTER_KEYS=f'{{"k1": "{k1}"}}').returncode == 0
    missing = closeout_run("keys", "rotate")
    assert missing.returncode == 2 and "CLOSEOUT_MASTER_KEYS must hold" in missing.stderr

    db = Database.from_url(url)
    DataKeys(db, LocalKeyRing({"k1": decode_master_key("k1", k1)}, "k1")).key_or_create("c-1")
    rotated = closeout_run(
        "keys",
        "rotate",
        CLOSEOUT_MASTER_KEYS=f'{{"k1": "{k1}", "k2": "{k2}"}}',
        CLOSEOUT_MASTER_KEY_ID="k2",
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "1 data key re-wrapped under master key k2" in rotated.stdout
    with db.session() as session:
        assert session.exec(select(DataKeyRecord.master_key_id)).one() == "k2"


def test_a_customer_still_here_gets_new_keys_one_deleted_for_good_never(world: World) -> None:
    """A key destroyed with part of a customer's data (a category's, a split backup's, the
    outbox's) is renewed for their next case; what it sealed stays unreadable. Once the
    customer is deleted for good no key of theirs is made again."""
    keys = DataKeys(world.db, key_ring(world.settings))
    vault = ArchiveVault(world.activities.archive, keys)
    customer = world.customer()
    vault.put_bundle(customer, "b-1", b"orders of the first case")
    assert keys.destroy(customer, ARCHIVE_SCOPE) == 1
    with pytest.raises(KeyDestroyed):
        vault.get_bundle(customer, "b-1")
    keys.key_or_create(customer, ARCHIVE_SCOPE)  # the next case's backup
    assert keys.live(customer, ARCHIVE_SCOPE) == 1
    with pytest.raises(Unreadable):
        vault.get_bundle(customer, "b-1")  # the old key's bundle stays unreadable
    vault.put_bundle(customer, "b-2", b"orders of the second case")
    assert vault.get_bundle(customer, "b-2") == b"orders of the second case"

    keys.destroy(customer)  # deleted for good
    for scope in (ARCHIVE_SCOPE, OUTBOX_SCOPE, WORDS_SCOPE, "category:contracts"):
        with pytest.raises(KeyDestroyed):
            keys.key_or_create(customer, scope)
    assert keys.live(customer) == 0
