"""How Closeout runs in production: metrics, logs and the capacity of its processes.

A part of the one Settings object (it inherits these fields, so they read as
CLOSEOUT_METRICS_TOKEN, CLOSEOUT_WORKER_ACTIVITY_SLOTS, …).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

# Workflows the worker keeps in memory between their tasks (each some 0.4 MiB).
WORKER_CACHED_WORKFLOWS = 100
# The shortest scrape token taken: as long as a random hex string of 128 bits.
MIN_METRICS_TOKEN = 32


class OperationsSettings(BaseModel):
    # `GET /metrics` outside dev mode answers only `Authorization: Bearer <this>` (and is off
    # without it): the figures name no one, but they are the business's own.
    metrics_token: SecretStr | None = None
    # host:port where the worker serves Prometheus metrics (Temporal's and Closeout's own);
    # none when unset.
    worker_metrics_address: str | None = None
    # `json`: one JSON object per log line (case and workflow ids, never an address).
    log_format: Literal["text", "json"] = "text"
    # Workflows the worker keeps in memory between their tasks. Enough for the cases moving at
    # once; a case waiting longer (for a decision, in retention) leaves the cache and replays
    # its history when it moves again.
    worker_cached_workflows: int = Field(default=WORKER_CACHED_WORKFLOWS, ge=0)
    # Activities one worker runs at once (each on a thread of its own).
    worker_activity_slots: int = Field(default=32, ge=1, le=1024)
    # PostgreSQL connections a process keeps open (as many again at a peak); unset: 5 (+ 10).
    # A worker uses up to one per activity slot; size the server's max_connections for all.
    database_pool_size: int | None = Field(default=None, ge=1, le=512)

    @field_validator("metrics_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Compose turns an unset variable into an empty one: never a token anyone can send.
        if value is not None and len(value.get_secret_value().strip()) < MIN_METRICS_TOKEN:
            raise ValueError(
                f"CLOSEOUT_METRICS_TOKEN must hold at least {MIN_METRICS_TOKEN} characters "
                "(`openssl rand -hex 32` makes one)"
            )
        return value

    @field_validator("worker_metrics_address")
    @classmethod
    def _listen_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not a host:port to listen on, like 0.0.0.0:9464")
        return value
