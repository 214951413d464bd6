"""The master keys in AWS KMS, against a local KMS server: refusals named by ring id, roots
that stay the same across processes, records that verify again, `closeout keys rotate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError
from sqlmodel import select

from closeout.certificates.models import DeletionCertificate
from closeout.certificates.repository import Certificates
from closeout.crypto.data_keys import DataKeys
from closeout.crypto.keyring import KeyServiceUnreachable, KeyUnavailable, new_master_key
from closeout.crypto.kms import KmsKeyRing, as_key_error, fetch_root
from closeout.crypto.models import DataKeyRecord
from closeout.crypto.ring_config import KmsKeyPair
from closeout.crypto.vault import key_ring
from closeout.db import Database
from closeout.settings import Settings
from closeout.temporal import data_converter
from tests.kms_server import IamKms, KmsServer
from tests.moto_server import FAKE_AWS
from tests.support import VENV_BIN, free_port

CONTEXT = b"closeout-data-key:r-1:c-1:archive"
SECRET = "3vX4s8VdTt0WNpuigiVzsEglf3CzIqKZKnux7OWx3vs"  # nosec B105


def kms_settings(
    server: KmsServer, keys: dict[str, KmsKeyPair], current: str, **values: Any
) -> Settings:
    return Settings(secret_key=SECRET, **server.settings_values(keys, current), **values)


@pytest.mark.xfail(
    strict=True, reason="moto 5.2.5 encrypts and decrypts under a disabled key (real KMS does not)"
)
def test_a_disabled_kms_key_refuses_to_unwrap(kms_server: KmsServer) -> None:
    pair = kms_server.new_key_pair()
    ring = KmsKeyRing(kms_server.client(), {"2026": pair.wrap}, "2026")
    wrapped = ring.wrap(os.urandom(32), CONTEXT)
    kms_server.client().disable_key(KeyId=pair.wrap)
    with pytest.raises(KeyUnavailable, match="'2026'"):
        ring.unwrap(wrapped, CONTEXT)


def test_kms_answers_become_named_refusals_or_retryable_failures() -> None:
    def answer(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "said by KMS"}}, "Decrypt")

    disabled = as_key_error(answer("DisabledException"), "2026", "unwrap a data key")
    assert isinstance(disabled, KeyUnavailable)
    assert str(disabled) == (
        "KMS refused to unwrap a data key under master key '2026' (DisabledException: said by KMS)"
    )
    for code in ("AccessDeniedException", "KMSInvalidStateException", "NotFoundException"):
        assert isinstance(as_key_error(answer(code), "2026", "unwrap"), KeyUnavailable)
    for code in ("ThrottlingException", "KMSInternalException", "DependencyTimeoutException"):
        assert isinstance(as_key_error(answer(code), "2026", "unwrap"), KeyServiceUnreachable)


def test_a_ring_id_pointed_at_another_kms_key_is_refused_by_name(kms_server: KmsServer) -> None:
    first, second = kms_server.new_key_pair(), kms_server.new_key_pair()
    wrapped = KmsKeyRing(kms_server.client(), {"2026": first.wrap}, "2026").wrap(b"k" * 32, CONTEXT)
    misnamed = KmsKeyRing(kms_server.client(), {"2026": second.wrap}, "2026")
    with pytest.raises(KeyUnavailable, match=r"under master key '2026' \(AccessDeniedException"):
        misnamed.unwrap(wrapped, CONTEXT)
    unknown = KmsKeyRing(kms_server.client(), {"2027": "alias/no-such-key"}, "2027")
    with pytest.raises(KeyUnavailable, match=r"wrap a data key under master key '2027' \(NotFound"):
        unknown.wrap(b"k" * 32, CONTEXT)


def test_the_three_permissions_the_readme_names_are_all_the_ring_needs(
    kms_with_iam: IamKms, monkeypatch: pytest.MonkeyPatch
) -> None:
    def as_principal(user: str) -> Settings:
        # Credentials reach the ring only through boto3's own chain: here, AWS_* variables.
        access_key, secret = kms_with_iam.credentials[user]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        keys = {"2026": kms_with_iam.keys}
        return Settings(dev_mode=True, **kms_with_iam.server.settings_values(keys, "2026"))

    closeout = as_principal("closeout")
    data_key = os.urandom(32)
    wrapped = key_ring(closeout).wrap(data_key, CONTEXT)
    assert key_ring(closeout).unwrap(wrapped, CONTEXT) == data_key
    assert len(closeout.master_roots()["2026"]) == 32

    cannot_decrypt = as_principal("cannot-decrypt")
    assert key_ring(cannot_decrypt).wrap(data_key, CONTEXT).master_key_id == "2026"
    with pytest.raises(
        KeyUnavailable, match="refused to unwrap a data key under master key '2026'"
    ):
        key_ring(cannot_decrypt).unwrap(wrapped, CONTEXT)


def test_an_unreachable_kms_fails_as_retryable(kms_server: KmsServer) -> None:
    pair = kms_server.new_key_pair()
    settings = Settings(
        dev_mode=True,
        **kms_server.settings_values({"2026": pair}, "2026")
        | {"kms_endpoint_url": f"http://127.0.0.1:{free_port()}"},
    )
    with pytest.raises(KeyServiceUnreachable, match="'2026'"):
        key_ring(settings).wrap(b"k" * 32, CONTEXT)
    with pytest.raises(KeyServiceUnreachable, match="make the root"):
        settings.master_roots()


def test_kms_without_a_region_says_which_setting_is_missing(
    kms_server: KmsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    values = kms_server.settings_values({"2026": kms_server.new_key_pair()}, "2026")
    settings = Settings(dev_mode=True, **values | {"kms_region": None})
    with pytest.raises(KeyUnavailable, match="set CLOSEOUT_KMS_REGION"):
        key_ring(settings)


ROOT_IN_ANOTHER_PROCESS = """
import sys
from closeout.crypto.kms import fetch_root, kms_client
print(fetch_root(kms_client(sys.argv[1], sys.argv[2]), sys.argv[3], sys.argv[4]).hex())
"""


def test_roots_are_stable_across_processes_and_differ_per_ring_id(kms_server: KmsServer) -> None:
    a, b = kms_server.new_key_pair(), kms_server.new_key_pair()
    keys = {"2026": a, "2027": b}
    roots = kms_settings(kms_server, keys, "2027").master_roots()
    assert sorted(roots) == ["2026", "2027"] and all(len(r) == 32 for r in roots.values())
    assert roots["2026"] != roots["2027"]
    assert kms_settings(kms_server, keys, "2026").master_roots() == roots, "a fresh client"
    where = [kms_server.url, kms_server.region]
    other = subprocess.run(
        [sys.executable, "-c", ROOT_IN_ANOTHER_PROCESS, *where, "2026", a.mac],
        env=os.environ | FAKE_AWS,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert bytes.fromhex(other.stdout.strip()) == roots["2026"]
    # The ring id is part of what the HMAC key signs: one MAC key under two ids, two roots.
    assert fetch_root(kms_server.client(), "2028", a.mac) != roots["2026"]


def test_records_made_under_kms_roots_verify_from_fresh_settings(kms_server: KmsServer) -> None:
    keys = {"2026": kms_server.new_key_pair()}
    made = kms_settings(kms_server, keys, "2026").record_keys()
    reference = made.customer_ref("cust-1")
    body = {"key_id": "2026", "case_id": "case-1", "stores": {"crm": 3}}
    digest, signature = Certificates(Database.from_url("sqlite://"), made).sign(body)
    certificate = DeletionCertificate(
        id="cert-1",
        case_id="case-1",
        issued_at=datetime.now(UTC),
        body=body,
        body_sha256=digest,
        signature=signature,
    )

    # Years later, a new process: a new rotation, the old ring id still configured.
    keys["2031"] = kms_server.new_key_pair()
    fresh = kms_settings(kms_server, keys, "2031").record_keys()
    assert fresh.customer_ref("cust-1", "2026") == reference
    assert fresh.customer_ref("cust-1") != reference, "new records use the new ring id"
    assert Certificates(Database.from_url("sqlite://"), fresh).is_authentic(certificate)
    forged = certificate.model_copy(update={"body": body | {"stores": {"crm": 2}}})
    assert not Certificates(Database.from_url("sqlite://"), fresh).is_authentic(forged)


@dataclass(frozen=True)
class Objection:
    case_id: str
    text: str


async def test_temporal_payloads_sealed_under_kms_roots_open_in_a_fresh_process(
    kms_server: KmsServer, sqlite_url: str
) -> None:
    keys = {"2026": kms_server.new_key_pair()}
    writer = data_converter(kms_settings(kms_server, keys, "2026", database_url=sqlite_url))
    sealed = await writer.encode([Objection("case-1", "too expensive")])
    assert b"too expensive" not in sealed[0].SerializeToString()
    assert sealed[0].metadata["encryption-key-id"] == b"2026"
    reader = data_converter(kms_settings(kms_server, keys, "2026", database_url=sqlite_url))
    assert await reader.decode(sealed, [Objection]) == [Objection("case-1", "too expensive")]


def test_keys_rotate_command_rewraps_onto_the_new_kms_key(
    kms_server: KmsServer, sqlite_url: str, tmp_path: Path
) -> None:
    old, new = kms_server.new_key_pair(), kms_server.new_key_pair()
    db = Database.from_url(sqlite_url)
    keys = DataKeys(db, key_ring(kms_settings(kms_server, {"2026": old}, "2026")))
    created = {c: keys.key_or_create(c) for c in ("c-1", "c-2", "c-3")}
    both = {"2026": old.model_dump(), "2027": new.model_dump()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEOUT_")} | FAKE_AWS
    env |= {
        "CLOSEOUT_SECRET_KEY": SECRET,
        "CLOSEOUT_DATABASE_URL": sqlite_url,
        "CLOSEOUT_ARCHIVE_DIR": str(tmp_path / "archive"),
        "CLOSEOUT_KEY_RING": "kms",
        "CLOSEOUT_KMS_KEYS": json.dumps(both),
        "CLOSEOUT_MASTER_KEY_ID": "2027",
        "CLOSEOUT_KMS_ENDPOINT_URL": kms_server.url,
        "CLOSEOUT_KMS_REGION": kms_server.region,
    }

    def closeout_keys_rotate(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "closeout"), "keys", "rotate"],
            env=env | extra,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def rotate() -> str:
        done = closeout_keys_rotate()
        assert done.returncode == 0, done.stderr
        return done.stdout

    # The old ring id pointed at the wrong KMS key: KMS refuses, the command says so.
    misnamed = json.dumps({"2026": new.model_dump(), "2027": new.model_dump()})
    refused = closeout_keys_rotate(CLOSEOUT_KMS_KEYS=misnamed)
    assert refused.returncode == 1
    assert "error: KMS refused to unwrap a data key under master key '2026'" in refused.stderr
    assert "3 data keys re-wrapped under master key 2027 (0 already were)" in rotate()
    assert "0 data keys re-wrapped under master key 2027 (3 already were)" in rotate()
    with db.session() as session:
        assert set(session.exec(select(DataKeyRecord.master_key_id)).all()) == {"2027"}
    only_new = DataKeys(db, key_ring(kms_settings(kms_server, {"2027": new}, "2027")))
    assert {c: only_new.key(c) for c in created} == created


def test_key_ring_settings_refuse_what_does_not_fit(kms_server: KmsServer, tmp_path: Path) -> None:
    pair = kms_server.new_key_pair()
    base: dict[str, Any] = {"secret_key": SECRET, "var_dir": tmp_path}

    def refused(match: str, **values: Any) -> None:
        with pytest.raises(ValidationError, match=match):
            Settings(**base | values)

    refused("CLOSEOUT_KEY_RING=kms needs CLOSEOUT_KMS_KEYS", key_ring="kms")
    refused("both set", key_ring="kms", kms_keys={"a": pair}, master_keys={"k1": new_master_key()})
    refused(
        "CLOSEOUT_KMS_KEYS set, but CLOSEOUT_KEY_RING is local",
        kms_keys={"a": pair},
        master_keys={"k1": new_master_key()},
    )
    two = {"a": pair, "b": kms_server.new_key_pair()}
    refused("which of several master keys", key_ring="kms", kms_keys=two)
    refused(
        "'c', which is not among CLOSEOUT_KMS_KEYS", key_ring="kms", kms_keys=two, master_key_id="c"
    )
    refused(
        "both the wrapping and the MAC key",
        key_ring="kms",
        kms_keys={"a": {"wrap": "k", "mac": "k"}},
    )
    refused("mac", key_ring="kms", kms_keys={"a": {"wrap": "alias/w"}})
    refused("'a b' is not a KMS key", key_ring="kms", kms_keys={"a": {"wrap": "a b", "mac": "m"}})
    for alias in ("alias/closeout-mac", "arn:aws:kms:eu-central-1:111122223333:alias/mac"):
        refused("is an alias", key_ring="kms", kms_keys={"a": {"wrap": "k", "mac": alias}})
        refused("is an alias", key_ring="kms", kms_keys={"a": {"wrap": alias, "mac": "m"}})
    refused("must be an http", key_ring="kms", kms_keys={"a": pair}, kms_endpoint_url="kms.local")
    refused("CLOSEOUT_KMS_REGION set, but CLOSEOUT_KEY_RING is local", kms_region="eu-west-1")
    refused("CLOSEOUT_MASTER_KEYS must hold at least one master key")
    # Outside dev mode, KMS holds the master keys: none is needed in the settings.
    settings = Settings(**base, key_ring="kms", kms_keys=two, master_key_id="b")
    assert settings.active_master_key_id == "b" and not settings.dev_mode
