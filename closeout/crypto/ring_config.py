"""Which key ring holds the master keys, checked when the settings are read.

`local`: the master keys themselves, from CLOSEOUT_MASTER_KEYS (small installs, dev mode).
`kms`: AWS KMS keys named in CLOSEOUT_KMS_KEYS; no master key's bytes ever reach Closeout.
Either way a master key has a ring id (`2026`, `k1`) that records name, so records stay
readable when the KMS key behind an id moves (a new region, another account).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from closeout.crypto.keyring import decode_master_key

if TYPE_CHECKING:
    from closeout.settings import Settings

# A KMS key as the AWS API takes it: a key id, a key ARN, an alias name or an alias ARN (the
# settings take the first two only).
KMS_KEY = re.compile(r"alias/[A-Za-z0-9/_-]+|arn:aws[a-z-]*:kms:\S+|[A-Za-z0-9-]+")


class KeyRingKind(StrEnum):
    """Where the master keys live."""

    LOCAL = "local"
    KMS = "kms"


class KmsKeyPair(BaseModel):
    """The two KMS keys of one ring id: one wraps data keys, one roots the derived keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A symmetric key (SYMMETRIC_DEFAULT, usage ENCRYPT_DECRYPT).
    wrap: str
    # An HMAC key (HMAC_256, usage GENERATE_VERIFY_MAC).
    mac: str

    @field_validator("wrap", "mac")
    @classmethod
    def _kms_key(cls, value: str) -> str:
        if len(value) > 2048 or not KMS_KEY.fullmatch(value):
            raise ValueError(f"{value!r} is not a KMS key: give a key id or a key ARN")
        if value.startswith("alias/") or ":alias/" in value:
            # An alias can be pointed at another key: every root would change without a word
            # (deleted customers no longer matched, certificates no longer verified), or every
            # wrapped data key would stop opening.
            raise ValueError(
                f"{value!r} is an alias, which can be pointed at another key: name the KMS "
                "key by its key id or key ARN"
            )
        return value

    @model_validator(mode="after")
    def _two_keys(self) -> KmsKeyPair:
        if self.wrap == self.mac:
            raise ValueError(
                f"{self.wrap!r} is named as both the wrapping and the MAC key: a KMS key "
                "either encrypts or makes MACs, so each ring id needs two"
            )
        return self


def ring_ids(settings: Settings) -> list[str]:
    """The master key ids the configured ring holds (empty in dev mode without any)."""
    if settings.key_ring is KeyRingKind.KMS:
        return list(settings.kms_keys)
    return list(settings.master_keys)


def check_key_ring(settings: Settings) -> None:
    """The key ring settings agree with each other; the message names what to change."""
    if settings.key_ring is KeyRingKind.KMS:
        _check_kms(settings)
    else:
        _check_local(settings)
    ids = ring_ids(settings)
    if ids and settings.active_master_key_id not in ids:
        source = (
            "CLOSEOUT_KMS_KEYS"
            if settings.key_ring is KeyRingKind.KMS
            else ("CLOSEOUT_MASTER_KEYS")
        )
        raise ValueError(
            f"CLOSEOUT_MASTER_KEY_ID names {settings.master_key_id!r}, which is not among "
            f"{source} ({', '.join(sorted(ids))})"
        )


def _check_local(settings: Settings) -> None:
    kms_only = {
        "CLOSEOUT_KMS_KEYS": bool(settings.kms_keys),
        "CLOSEOUT_KMS_ENDPOINT_URL": settings.kms_endpoint_url is not None,
        "CLOSEOUT_KMS_REGION": settings.kms_region is not None,
    }
    given = [name for name, is_set in kms_only.items() if is_set]
    if given:
        raise ValueError(
            f"{', '.join(given)} set, but CLOSEOUT_KEY_RING is local: set CLOSEOUT_KEY_RING=kms "
            "to keep the master keys in KMS"
        )
    if not settings.dev_mode and not settings.master_keys:
        raise ValueError(
            "CLOSEOUT_MASTER_KEYS must hold at least one master key outside dev mode "
            "(generate one with `closeout keys new`), or set CLOSEOUT_KEY_RING=kms and "
            "CLOSEOUT_KMS_KEYS"
        )
    for key_id, key in settings.master_keys.items():
        decode_master_key(key_id, key.get_secret_value())


def _check_kms(settings: Settings) -> None:
    if settings.master_keys:
        raise ValueError(
            "CLOSEOUT_MASTER_KEYS and CLOSEOUT_KEY_RING=kms both set: keep the master keys "
            "in one place (re-wrap local data keys with `closeout keys rotate` under a KMS "
            "ring id first, see the README)"
        )
    if not settings.kms_keys:
        raise ValueError(
            "CLOSEOUT_KEY_RING=kms needs CLOSEOUT_KMS_KEYS: a JSON map of ring id to its "
            'keys, e.g. {"2026": {"wrap": "alias/closeout-wrap-2026", '
            '"mac": "alias/closeout-mac-2026"}}'
        )
    url = settings.kms_endpoint_url
    if url is not None and not url.startswith(("https://", "http://")):
        raise ValueError(f"CLOSEOUT_KMS_ENDPOINT_URL must be an http(s) URL, not {url!r}")
