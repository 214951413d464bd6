"""Pydantic payload conversion with its type adapters built once per process.

The SDK makes a new payload converter for every workflow run, and the pydantic converter keeps
its type adapters per converter: each run of a case built the schema of its input, of every
Update's request and of every activity's result anew, the workflow's largest cost after
creating its sandbox. Here one table per process keeps them, by the type's name, holding the
type itself so that a type a sandbox defines anew (not passed through) is never validated as
another run's: it gets an adapter of its own, which replaces the one before (one per name at
most, whatever the number of runs).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, PydanticPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
)

_ADAPTERS: dict[str, tuple[Any, TypeAdapter[Any]]] = {}
_LOCK = threading.Lock()
_MOST = 1024  # names; a process decodes a few dozen


def type_adapter(hint: Any) -> TypeAdapter[Any]:
    """The process's adapter for a type hint, built on first use."""
    name = repr(hint)
    found = _ADAPTERS.get(name)
    if found is not None and (found[0] is hint or found[0] == hint):
        return found[1]
    adapter: TypeAdapter[Any] = TypeAdapter(hint)
    with _LOCK:
        if len(_ADAPTERS) >= _MOST:
            _ADAPTERS.clear()
        _ADAPTERS[name] = (hint, adapter)
    return adapter


class SharedAdaptersJSONConverter(PydanticJSONPlainPayloadConverter):
    """JSON through pydantic, validating with the process's adapters."""

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        return type_adapter(type_hint if type_hint is not None else Any).validate_json(payload.data)


@functools.cache
def shared_converters() -> tuple[EncodingPayloadConverter, ...]:
    """The default encodings, JSON through the shared adapters: built once per process. None
    of them keeps state of a run, so every converter can hold the same ones."""
    return tuple(
        SharedAdaptersJSONConverter() if isinstance(c, JSONPlainPayloadConverter) else c
        for c in DefaultPayloadConverter.default_encoding_payload_converters
    )


class SharedAdaptersPayloadConverter(PydanticPayloadConverter):
    """The pydantic payload converter whose JSON part shares one adapter per type across
    every workflow run of the process.

    The SDK makes one for every workflow activation and for each serialization context within
    it, so making one builds nothing: it takes the process's converters.
    """

    def __init__(self) -> None:
        CompositePayloadConverter.__init__(self, *shared_converters())
