"""Connecting to Temporal, with the one data converter every process uses."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from closeout.crypto.payload_codec import PayloadCipher
from closeout.settings import Settings

# Pydantic for Closeout's dataclasses and models; the processes add encryption (below).
DATA_CONVERTER = pydantic_data_converter


def data_converter(settings: Settings) -> DataConverter:
    """The converter every process uses: payloads encrypted unless turned off."""
    if not settings.payload_encryption:
        return DATA_CONVERTER
    cipher = PayloadCipher(settings.master_key_bytes(), settings.active_master_key_id)
    return dataclasses.replace(DATA_CONVERTER, payload_codec=cipher)


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
    )
