"""The key ring contract, held by both rings: the master keys in the process (LocalKeyRing)
and in AWS KMS (KmsKeyRing, against a local KMS server). Wrapping, refusals, rotation onto a
new ring id, and the customers' data keys through each."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from closeout.crypto.data_keys import ARCHIVE_SCOPE, DataKeys, KeyDestroyed
from closeout.crypto.keyring import KeyRing, KeyUnavailable, WrappedKey, new_master_key
from closeout.crypto.kms import KmsKeyRing
from closeout.crypto.ring_config import KmsKeyPair
from closeout.crypto.vault import key_ring
from closeout.db import Database
from closeout.settings import Settings
from tests.kms_server import KmsServer

CONTEXT = b"closeout-data-key:r-1:c-1:archive"


class MasterKeys(Protocol):
    """Master keys under ring ids, kept for the whole test: the same id, the same key."""

    def values(self, ids: list[str], current: str) -> dict[str, Any]: ...


@dataclass
class LocalMasterKeys:
    keys: dict[str, str] = field(default_factory=dict)

    def values(self, ids: list[str], current: str) -> dict[str, Any]:
        held = {i: self.keys.setdefault(i, new_master_key()) for i in ids}
        return {"master_keys": held, "master_key_id": current}


@dataclass
class KmsMasterKeys:
    server: KmsServer
    pairs: dict[str, KmsKeyPair] = field(default_factory=dict)

    def values(self, ids: list[str], current: str) -> dict[str, Any]:
        # One ring id's keys named by alias, the others by ARN: both are KMS key ids.
        held = {i: self.pairs.setdefault(i, self.server.new_key_pair()) for i in ids}
        return self.server.settings_values(held, current)


@pytest.fixture(params=["local", "kms"])
def master_keys(request: pytest.FixtureRequest) -> MasterKeys:
    if request.param == "kms":
        return KmsMasterKeys(request.getfixturevalue("kms_server"))
    return LocalMasterKeys()


def settings_of(keys: MasterKeys, ids: list[str], current: str, **values: Any) -> Settings:
    return Settings(dev_mode=True, **keys.values(ids, current), **values)


def ring_of(keys: MasterKeys, ids: list[str], current: str) -> KeyRing:
    return key_ring(settings_of(keys, ids, current))


def test_a_wrapped_key_unwraps_with_its_context(master_keys: MasterKeys) -> None:
    ring = ring_of(master_keys, ["k1"], "k1")
    data_key = os.urandom(32)
    wrapped = ring.wrap(data_key, CONTEXT)
    assert wrapped.master_key_id == "k1", "records name the ring id, not a KMS key"
    assert data_key not in wrapped.blob
    assert ring.unwrap(wrapped, CONTEXT) == data_key
    assert ring.wrap(data_key, CONTEXT).blob != wrapped.blob, "each wrapping is fresh"


def test_another_context_is_refused(master_keys: MasterKeys) -> None:
    ring = ring_of(master_keys, ["k1"], "k1")
    wrapped = ring.wrap(os.urandom(32), CONTEXT)
    with pytest.raises(KeyUnavailable, match="'k1'"):
        ring.unwrap(wrapped, b"closeout-data-key:r-1:c-2:archive")


def test_an_unknown_ring_id_is_refused(master_keys: MasterKeys) -> None:
    ring = ring_of(master_keys, ["k1"], "k1")
    wrapped = ring.wrap(os.urandom(32), CONTEXT)
    with pytest.raises(KeyUnavailable, match="'k9' is not configured"):
        ring.unwrap(WrappedKey("k9", wrapped.blob), CONTEXT)


def test_rotation_to_a_new_id_reads_old_wraps_while_the_old_key_is_configured(
    master_keys: MasterKeys,
) -> None:
    data_key = os.urandom(32)
    old = ring_of(master_keys, ["k1"], "k1").wrap(data_key, CONTEXT)
    both = ring_of(master_keys, ["k1", "k2"], "k2")
    assert both.current_key_id == "k2"
    assert both.unwrap(old, CONTEXT) == data_key
    new = both.wrap(data_key, CONTEXT)
    assert new.master_key_id == "k2"
    only_new = ring_of(master_keys, ["k2"], "k2")
    assert only_new.unwrap(new, CONTEXT) == data_key
    with pytest.raises(KeyUnavailable, match="'k1'"):
        only_new.unwrap(old, CONTEXT)


def test_data_keys_live_and_rotate_through_the_ring(
    master_keys: MasterKeys, sqlite_url: str
) -> None:
    db = Database.from_url(sqlite_url)
    first = DataKeys(db, key_ring(settings_of(master_keys, ["k1"], "k1")))
    customers = [f"c-{n}" for n in range(3)]
    created = {c: first.key_or_create(c, ARCHIVE_SCOPE) for c in customers}
    assert {c: first.key_or_create(c, ARCHIVE_SCOPE) for c in customers} == created

    rotated = DataKeys(db, key_ring(settings_of(master_keys, ["k1", "k2"], "k2")))
    result = rotated.rotate(batch=2)
    assert (result.rewrapped, result.already_current) == (3, 0)
    again = rotated.rotate()
    assert (again.rewrapped, again.already_current) == (0, 3), "a second run re-wraps none"

    only_new = DataKeys(db, key_ring(settings_of(master_keys, ["k2"], "k2")))
    assert {c: only_new.key(c, ARCHIVE_SCOPE) for c in customers} == created
    assert only_new.destroy("c-0") == 1
    with pytest.raises(KeyDestroyed):
        only_new.key("c-0", ARCHIVE_SCOPE)
    assert only_new.destroy("c-0") == 0, "destroying again is no error"
    assert only_new.key("c-1", ARCHIVE_SCOPE) == created["c-1"]


def test_the_kms_ring_wraps_through_kms(kms_server: KmsServer) -> None:
    """What the contract cannot see: the blob is KMS's ciphertext, bound to the context."""
    pair = kms_server.new_key_pair()
    ring = KmsKeyRing(kms_server.client(), {"2026": pair.wrap}, "2026")
    data_key = os.urandom(32)
    wrapped = ring.wrap(data_key, CONTEXT)
    kms = kms_server.client()
    plain = kms.decrypt(
        CiphertextBlob=wrapped.blob,
        EncryptionContext={"closeout": CONTEXT.decode()},
        KeyId=pair.wrap,
    )
    assert plain["Plaintext"] == data_key
