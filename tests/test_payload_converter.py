"""One type adapter per type and process, shared by every workflow run's converter."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.converter import DefaultPayloadConverter

from closeout.contracts import CloseCustomerInput
from closeout.domain import ChurnClass, Trigger
from closeout.payload_converter import (
    SharedAdaptersJSONConverter,
    SharedAdaptersPayloadConverter,
    type_adapter,
)
from closeout.temporal import DATA_CONVERTER


def _case() -> CloseCustomerInput:
    return CloseCustomerInput(
        "case-1", "cust-1", Trigger.INACTIVITY, ChurnClass.NATURAL, "policy", "test"
    )


def test_every_run_s_converter_decodes_with_the_same_adapter() -> None:
    # The SDK makes a converter for each workflow run, as here.
    first, second = SharedAdaptersPayloadConverter(), SharedAdaptersPayloadConverter()
    payload = first.to_payloads([_case()])[0]

    assert first.from_payloads([payload], [CloseCustomerInput]) == [_case()]
    adapter = type_adapter(CloseCustomerInput)
    assert second.from_payloads([payload], [CloseCustomerInput]) == [_case()]
    assert type_adapter(CloseCustomerInput) is adapter
    assert type_adapter(list[CloseCustomerInput]) is type_adapter(list[CloseCustomerInput])


def test_a_type_defined_anew_gets_its_own_adapter_and_replaces_the_old_one() -> None:
    # A sandbox that imports a module anew defines its classes anew, under the same name.
    def define() -> type:
        @dataclass
        class Request:
            note: str

        return Request

    old, new = define(), define()
    assert repr(old) == repr(new) and old is not new
    converter = SharedAdaptersPayloadConverter()
    payload = converter.to_payloads([old("hello")])[0]

    assert type(converter.from_payloads([payload], [old])[0]) is old
    decoded = converter.from_payloads([payload], [new])[0]
    assert type(decoded) is new and decoded.note == "hello"
    assert type_adapter(new) is type_adapter(new)
    assert type_adapter(old) is not type_adapter(new)


def test_untyped_payloads_still_decode_as_json() -> None:
    converter = SharedAdaptersPayloadConverter()
    payload = converter.to_payloads([{"a": [1, 2]}])[0]
    assert converter.from_payloads([payload]) == [{"a": [1, 2]}]


def test_the_converter_every_process_uses_shares_its_adapters() -> None:
    assert DATA_CONVERTER.payload_converter_class is SharedAdaptersPayloadConverter


def test_making_a_converter_builds_nothing_and_keeps_the_default_encodings() -> None:
    # The SDK makes a converter for every activation: each holds the process's converters.
    first, second = SharedAdaptersPayloadConverter(), SharedAdaptersPayloadConverter()
    assert list(first.converters) == list(DefaultPayloadConverter().converters)
    pairs = zip(first.converters.values(), second.converters.values(), strict=True)
    assert all(a is b for a, b in pairs)
    json = first.converters[b"json/plain"]
    assert isinstance(json, SharedAdaptersJSONConverter)
    assert first.to_payloads([b"raw", None])[1].metadata["encoding"] == b"binary/null"
    assert first.from_payloads(first.to_payloads([b"raw"])) == [b"raw"]
