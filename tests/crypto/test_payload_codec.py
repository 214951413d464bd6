"""Temporal payloads leave the process encrypted, and older plain ones still read."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from closeout.crypto.history_cipher import CustomerHistoryCipher
from closeout.crypto.payload_codec import ENCODING, PayloadCipher
from closeout.settings import Settings
from closeout.temporal import DATA_CONVERTER, data_converter


@dataclass(frozen=True)
class Comment:
    case_id: str
    text: str


async def test_round_trip_rotation_and_plain_payloads() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    old = PayloadCipher({"k1": k1}, "k1")
    plain = DATA_CONVERTER.payload_converter.to_payloads([Comment("c-1", "called Mrs Wu")])
    sealed = await old.encode(plain)
    assert sealed[0].metadata["encoding"] == ENCODING
    assert b"Mrs Wu" not in sealed[0].data and b"c-1" not in sealed[0].data
    # After rotation the new key encodes; the old one, still configured, decodes.
    rotated = PayloadCipher({"k1": k1, "k2": k2}, "k2")
    assert await rotated.decode(sealed) == plain
    assert (await rotated.encode(plain))[0].metadata["encryption-key-id"] == b"k2"
    # Histories written before encryption read as they are.
    assert await rotated.decode(plain) == plain
    with pytest.raises(ValueError, match="not configured"):
        await PayloadCipher({"k2": k2}, "k2").decode(sealed)
    tampered = type(sealed[0])()
    tampered.CopyFrom(sealed[0])
    tampered.data = sealed[0].data[:-1] + bytes([sealed[0].data[-1] ^ 1])
    with pytest.raises(ValueError, match="integrity"):
        await rotated.decode([tampered])


async def test_every_process_uses_the_encrypting_converter() -> None:
    settings = Settings(dev_mode=True)
    converter = data_converter(settings)
    assert isinstance(converter.payload_codec, CustomerHistoryCipher)
    assert isinstance(converter.payload_codec.inner, PayloadCipher)
    payloads = await converter.encode([Comment("c-2", "objection: too expensive")])
    assert b"too expensive" not in payloads[0].SerializeToString()
    assert await converter.decode(payloads, [Comment]) == [
        Comment("c-2", "objection: too expensive")
    ]
    off = data_converter(Settings(dev_mode=True, payload_encryption=False))
    assert off.payload_codec is None
