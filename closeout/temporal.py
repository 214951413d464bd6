"""Connecting to Temporal, with the one data converter every process uses."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import py_compile
import sys
from collections.abc import Iterable

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from closeout.crypto.data_keys import DataKeys
from closeout.crypto.history_cipher import CustomerHistoryCipher
from closeout.crypto.payload_codec import PayloadCipher
from closeout.crypto.vault import key_ring
from closeout.db import Database
from closeout.settings import Settings

# Pydantic for Closeout's dataclasses and models; the processes add encryption (below).
DATA_CONVERTER = pydantic_data_converter


def data_converter(settings: Settings, keys: DataKeys | None = None) -> DataConverter:
    """The converter every process uses: payloads encrypted unless turned off, a customer's
    case under their own history key (`keys`: the data keys; the settings' database if None)."""
    if not settings.payload_encryption:
        return DATA_CONVERTER
    cipher = PayloadCipher(settings.master_key_bytes(), settings.active_master_key_id)
    if keys is None:
        keys = DataKeys(Database.from_url(settings.database_url), key_ring(settings))
    codec = CustomerHistoryCipher(cipher, keys)
    return dataclasses.replace(DATA_CONVERTER, payload_codec=codec)


async def connect(settings: Settings, keys: DataKeys | None = None) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings, keys),
    )


def cache_workflow_bytecode(workflows: Iterable[type]) -> list[str]:
    """Write the bytecode of the workflows' modules, so the sandbox does not compile them per run.

    The workflow sandbox imports a workflow's module afresh for every run it starts or
    replays. With no bytecode next to the source (PYTHONDONTWRITEBYTECODE, usual in container
    images) each of those imports compiles the module from source. Returns the files written;
    a read-only tree is logged and left as it is.
    """
    written = []
    for name in sorted({w.__module__ for w in workflows}):
        source = getattr(sys.modules[name], "__file__", None)
        if source is None or not source.endswith(".py"):
            continue
        target = importlib.util.cache_from_source(source)
        try:
            py_compile.compile(source, cfile=target, doraise=True)
        except (OSError, py_compile.PyCompileError) as error:
            logging.getLogger(__name__).warning(
                "workflow module %s compiles on every run: %s", name, error
            )
            continue
        written.append(target)
    return written
