"""Connecting to Temporal, with the one data converter every process uses."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import TLSConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

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
        settings.master_roots(),
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
        settings.master_roots(), settings.active_master_key_id, accept_plain=True
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


def worker_runtime(settings: Settings) -> Runtime | None:
    """The worker's SDK runtime, when the settings ask more of it than the default: Prometheus
    metrics at CLOSEOUT_WORKER_METRICS_ADDRESS (Temporal's task latencies, slots and failures,
    and Closeout's own counters), and, with JSON logs, the SDK core's log lines forwarded to
    Python's logging so they come out as JSON too."""
    json_logs = settings.log_format == "json"
    if settings.worker_metrics_address is None and not json_logs:
        return None
    metrics = None
    if settings.worker_metrics_address is not None:
        metrics = PrometheusConfig(
            bind_address=settings.worker_metrics_address,
            counters_total_suffix=True,
            durations_as_seconds=True,
        )
    logging_config = LoggingConfig.default
    if json_logs:
        logging_config = LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
        )
    return Runtime(telemetry=TelemetryConfig(metrics=metrics, logging=logging_config))


async def connect(
    settings: Settings, keys: DataKeys | None = None, runtime: Runtime | None = None
) -> Client:
    """The one way a Closeout process connects to Temporal (worker, API, CLI, schedules)."""
    connection = temporal_connection(settings)
    try:
        return await Client.connect(
            connection.target_host,
            namespace=connection.namespace,
            api_key=connection.api_key,
            tls=connection.tls,
            data_converter=data_converter(settings, keys),
            runtime=runtime,
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


def workflow_runner(*packages: str) -> SandboxedWorkflowRunner:
    """The sandbox the workflows run in, the modules of `packages` imported once per process.

    By default the sandbox imports a workflow's module, and every module of the project it
    imports, afresh for every run it starts or replays: 71 ms of CPU for a case's two runs
    (the closing run and its retention run), most of it the SDK inspecting each class's
    handlers, against 1.5 ms with the workflows' own packages passed through. Their modules
    hold no state a run changes (module-level names are constants and lookup tables), so one
    import serves every run. The sandbox's restricted builtins still apply to every run; its
    proxies of restricted modules (`datetime.now`, `random`) reach only code imported inside
    the sandbox, so the replay test also replays every stored history in the default sandbox,
    where such a call fails.
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*packages)
    return SandboxedWorkflowRunner(restrictions=restrictions)
