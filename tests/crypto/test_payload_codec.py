"""Temporal payloads leave the process encrypted, and older plain ones still read."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from closeout.crypto.history_cipher import CustomerHistoryCipher
from closeout.crypto.payload_codec import ENCODING, PayloadCipher, PlainPayloadRefused
from closeout.settings import Settings
from closeout.temporal import DATA_CONVERTER, data_converter, display_codec


@dataclass(frozen=True)
class Comment:
    case_id: str
    text: str


async def test_round_trip_rotation_and_plain_payloads() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    old = PayloadCipher({"k1": k1}, "k1", accept_plain=True)
    plain = DATA_CONVERTER.payload_converter.to_payloads([Comment("c-1", "called Mrs Wu")])
    sealed = await old.encode(plain)
    assert sealed[0].metadata["encoding"] == ENCODING
    assert b"Mrs Wu" not in sealed[0].data and b"c-1" not in sealed[0].data
    # After rotation the new key encodes; the old one, still configured, decodes.
    rotated = PayloadCipher({"k1": k1, "k2": k2}, "k2", accept_plain=True)
    assert await rotated.decode(sealed) == plain
    assert (await rotated.encode(plain))[0].metadata["encryption-key-id"] == b"k2"
    # Histories written before encryption read as they are.
    assert await rotated.decode(plain) == plain
    with pytest.raises(ValueError, match="not configured"):
        await PayloadCipher({"k2": k2}, "k2", accept_plain=True).decode(sealed)
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


def _production(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "secret_key": "3vX4s8VdTt0WNpuigiVzsEglf3CzIqKZKnux7OWx3vs",
        "master_keys": {"k1": base64.b64encode(os.urandom(32)).decode()},
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


async def test_plain_payloads_are_refused_outside_dev_mode() -> None:
    plain = DATA_CONVERTER.payload_converter.to_payloads([Comment("c-3", "forged decision")])
    production = data_converter(_production())
    with pytest.raises(PlainPayloadRefused, match=r"plain .* payload was refused"):
        await production.decode(plain, [Comment])
    sealed = await production.encode([Comment("c-3", "own decision")])
    assert await production.decode(sealed, [Comment]) == [Comment("c-3", "own decision")]
    # Dev mode (the Web UI and the CLI send plain payloads), and an operator's drain period.
    assert await data_converter(Settings(dev_mode=True)).decode(plain, [Comment])
    assert await data_converter(_production(accept_plain_payloads=True)).decode(plain, [Comment])
    # The Web UI's codec endpoint only shows payloads: plain ones pass through it.
    codec = display_codec(_production())
    assert codec is not None and await codec.decode(plain) == plain


async def test_failure_messages_are_encoded_by_the_codec() -> None:
    converter = data_converter(_production())
    failure = Failure()
    await converter.encode_failure(
        ApplicationError("Mrs Wu at wu@example.com refused", type="InvalidRequest"), failure
    )
    assert b"Mrs Wu" not in failure.SerializeToString()
    assert failure.message == "Encoded failure"
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError)
    assert (decoded.message, decoded.type) == ("Mrs Wu at wu@example.com refused", "InvalidRequest")
    # A failure stored before (message in plain text, no encoded attribute) still reads.
    old = Failure()
    await DATA_CONVERTER.encode_failure(ApplicationError("old", type="WrongStage"), old)
    stored = await converter.decode_failure(old)
    assert isinstance(stored, ApplicationError) and stored.message == "old"
