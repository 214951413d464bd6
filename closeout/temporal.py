"""Connecting to Temporal, with the one data converter every process uses."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import py_compile
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)
from temporalio.service import TLSConfig

from closeout.crypto.data_keys import DataKeys
from closeout.crypto.history_cipher import CustomerHistoryCipher
from closeout.crypto.payload_codec import PayloadCipher, RefusingPayloadConverter
from closeout.crypto.vault import data_keys_from
from closeout.db import Database
from closeout.payload_converter import SharedAdaptersPayloadConverter
from closeout.settings import Settings

# Pydantic for Closeout's dataclasses and models, each type's adapter built once per process;
# the processes add encryption (below).
DATA_CONVERTER = DataConverter(payload_converter_class=SharedAdaptersPayloadConverter)


def _keys_of(settings: Settings, keys: DataKeys | None) -> DataKeys:
    """The data keys that hold customers' history keys: the settings' database if not given."""
    if keys is not None:
        return keys
    return data_keys_from(settings, Database.from_url(settings.database_url))


def data_converter(settings: Settings, keys: DataKeys | None = None) -> DataConverter:
    """The converter every process uses: payloads encrypted unless turned off, a customer's
    case under their own history key (closeout/crypto/history_cipher.py).

    Failures' messages and stack traces move into an encoded attribute, so the history holds
    them encrypted too; a failure written before that still reads (its message is plain).
    """
    if not settings.payload_encryption:
        return DATA_CONVERTER
    cipher = PayloadCipher(
        settings.master_key_bytes(),
        settings.active_master_key_id,
        accept_plain=settings.plain_payloads_accepted,
    )
    return dataclasses.replace(
        DATA_CONVERTER,
        payload_converter_class=RefusingPayloadConverter,
        payload_codec=CustomerHistoryCipher(cipher, _keys_of(settings, keys)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def display_codec(settings: Settings, keys: DataKeys | None = None) -> PayloadCodec | None:
    """The codec behind the Web UI's codec endpoint: it shows plain payloads as they are.

    Showing trusts nothing, and a history holds plain payloads a worker never decodes (the
    SDK's patch markers), so the endpoint reads them in every mode.
    """
    if not settings.payload_encryption:
        return None
    cipher = PayloadCipher(
        settings.master_key_bytes(), settings.active_master_key_id, accept_plain=True
    )
    return CustomerHistoryCipher(cipher, _keys_of(settings, keys))


class TemporalUnreachable(Exception):
    """No connection to the Temporal frontend; the message says where and how it was tried."""


@dataclass(frozen=True)
class TemporalConnection:
    """How every process reaches the Temporal frontend, as the settings say."""

    target_host: str
    namespace: str
    tls: TLSConfig | bool
    api_key: str | None = field(default=None, repr=False)

    @property
    def described(self) -> str:
        how = "TLS" if self.tls else "plaintext"
        if isinstance(self.tls, TLSConfig) and self.tls.client_cert:
            how = "mutual TLS"
        key = ", with an API key" if self.api_key else ""
        return f"{self.target_host} (namespace {self.namespace}, {how}{key})"


def _read(setting: str, path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TemporalUnreachable(f"{setting}={path}: cannot be read ({exc.strerror})") from exc


def temporal_connection(settings: Settings) -> TemporalConnection:
    """The connect arguments built from settings: address, namespace, TLS, API key."""
    tls: TLSConfig | bool = False
    if settings.temporal_tls:
        tls = TLSConfig(
            server_root_ca_cert=_read(
                "CLOSEOUT_TEMPORAL_TLS_CA_FILE", settings.temporal_tls_ca_file
            ),
            client_cert=_read("CLOSEOUT_TEMPORAL_TLS_CERT_FILE", settings.temporal_tls_cert_file),
            client_private_key=_read(
                "CLOSEOUT_TEMPORAL_TLS_KEY_FILE", settings.temporal_tls_key_file
            ),
            domain=settings.temporal_tls_server_name,
        )
    key = settings.temporal_api_key
    return TemporalConnection(
        target_host=settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls,
        api_key=key.get_secret_value() if key is not None else None,
    )


async def connect(settings: Settings, keys: DataKeys | None = None) -> Client:
    """The one way a Closeout process connects to Temporal (worker, API, CLI, schedules)."""
    connection = temporal_connection(settings)
    try:
        return await Client.connect(
            connection.target_host,
            namespace=connection.namespace,
            api_key=connection.api_key,
            tls=connection.tls,
            data_converter=data_converter(settings, keys),
        )
    except RuntimeError as exc:  # the SDK reports every refusal as a plain RuntimeError
        hint = ""
        if connection.tls:
            hint = (
                "; check that the server speaks TLS and that CLOSEOUT_TEMPORAL_TLS_CA_FILE "
                "and CLOSEOUT_TEMPORAL_TLS_SERVER_NAME match its certificate"
            )
        raise TemporalUnreachable(
            f"cannot connect to Temporal at {connection.described}: {exc}{hint}"
        ) from exc


def cache_workflow_bytecode(workflows: Iterable[type]) -> list[str]:
    """Write the bytecode of the workflows' modules, so the sandbox does not compile them per run.

    The workflow sandbox imports a workflow's module afresh for every run it starts or
    replays. With no bytecode next to the source (PYTHONDONTWRITEBYTECODE, usual in container
    images) each of those imports compiles the module from source. Returns the files written;
    a read-only tree is logged and left as it is.
    """
    written = []
    # A workflow's own module, those of the classes it is built from (its parts), and the
    # packages they sit in (imported first).
    modules = {c.__module__ for w in workflows for c in w.__mro__ if c.__module__ != "builtins"}
    modules |= {name.rsplit(".", n)[0] for name in modules for n in range(1, name.count(".") + 1)}
    for name in sorted(modules):
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
