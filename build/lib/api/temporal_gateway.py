"""The API's one Temporal client."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client

from api.errors import Unavailable
from closeout.settings import Settings
from closeout.temporal import connect


class TemporalGateway:
    """One Temporal client for the API, connected on first use so the API starts alone."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.settings = settings
        self._client: Client | None = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await connect(self.settings)
                    except Exception as exc:  # the SDK raises plain RuntimeError on refusal
                        raise Unavailable(f"Temporal is not reachable: {exc}") from exc
        return self._client

    async def healthy(self) -> bool:
        try:
            client = await self.client()
            return await client.service_client.check_health(timeout=timedelta(seconds=3))
        except Exception:
            return False
