"""A key per purpose, and secret keys that are refused outside dev mode."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from closeout.crypto.keyring import new_master_key
from closeout.crypto.purpose_keys import KeyPurpose, RecordKeys, purpose_key, secret_weakness
from closeout.settings import Settings

STRONG = secrets.token_urlsafe(32)


def prod(tmp_path: Path, **values: object) -> Settings:
    base: dict[str, object] = {
        "var_dir": tmp_path,
        "secret_key": STRONG,
        "master_keys": {"k1": new_master_key()},
    }
    return Settings(**(base | values))  # type: ignore[arg-type]


def test_every_purpose_gets_its_own_key(tmp_path: Path) -> None:
    settings = prod(tmp_path)
    short_lived = {p: settings.purpose_key(p) for p in KeyPurpose}
    records = settings.record_keys()
    long_lived = {p: records.key(p, "k1") for p in KeyPurpose}
    keys = [*short_lived.values(), *long_lived.values()]
    assert len(set(keys)) == len(keys) == 2 * len(KeyPurpose)
    assert all(len(k) == 32 for k in keys)
    assert STRONG.encode() not in keys
    # Derived, not random: the same secret gives the same keys in every process.
    assert prod(tmp_path).purpose_key(KeyPurpose.SESSIONS) == short_lived[KeyPurpose.SESSIONS]


def test_record_keys_do_not_depend_on_the_secret_key(tmp_path: Path) -> None:
    master = new_master_key()
    before = prod(tmp_path, master_keys={"k1": master}).record_keys()
    after = prod(
        tmp_path, master_keys={"k1": master}, secret_key=secrets.token_urlsafe(32)
    ).record_keys()
    assert before.customer_ref("cust-1") == after.customer_ref("cust-1")
    assert before.key(KeyPurpose.CERTIFICATES, "k1") == after.key(KeyPurpose.CERTIFICATES, "k1")
    other = RecordKeys({"k2": purpose_key(b"x" * 32, KeyPurpose.LEDGER)}, "k2")
    assert other.customer_ref("cust-1") != before.customer_ref("cust-1")


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("x", "fewer than 43"),
        ("a-real-secret-here", "fewer than 43"),
        (secrets.token_hex(31), "fewer than 64"),  # hex: 62 digits hold 31 bytes
        ("a" * 64, "repeat too much"),
        ("ab" * 40, "repeat too much"),
    ],
)
def test_a_weak_secret_key_is_refused_outside_dev_mode(
    tmp_path: Path, secret: str, why: str
) -> None:
    assert why in (secret_weakness(secret) or "")
    with pytest.raises(ValidationError, match="CLOSEOUT_SECRET_KEY is too weak") as exc:
        prod(tmp_path, secret_key=secret)
    assert "secrets.token_urlsafe(32)" in str(exc.value)
    # Dev mode takes anything: it only ever serves this machine.
    assert Settings(dev_mode=True, secret_key=secret, var_dir=tmp_path).secret_key == secret


@pytest.mark.parametrize(
    "secret",
    [secrets.token_urlsafe(32), secrets.token_hex(32), secrets.token_urlsafe(64)],
)
def test_random_secret_keys_of_32_bytes_are_accepted(tmp_path: Path, secret: str) -> None:
    assert secret_weakness(secret) is None
    assert prod(tmp_path, secret_key=secret).secret_key == secret


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_dev_mode_refuses_a_non_loopback_address(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValidationError, match="dev mode only serves a loopback address"):
        Settings(dev_mode=True, api_host=host, var_dir=tmp_path)
    assert prod(tmp_path, api_host=host).api_host == host  # outside dev mode: any address


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_dev_mode_serves_loopback_addresses(tmp_path: Path, host: str) -> None:
    assert Settings(dev_mode=True, api_host=host, var_dir=tmp_path).api_host == host
