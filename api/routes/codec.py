"""The codec endpoint the Temporal Web UI calls to show Closeout's encrypted payloads.

Only signed-in managers, compliance officers and admins get plain payloads back, and only
the configured Web UI may call from the browser (CORS with credentials, same site). It only
decodes: an encode endpoint would seal whatever a signed-in person wrote under the master
keys, and the workers would take it as Closeout's own request (an Update with any actor in
it). The Web UI reads histories; requests go through Closeout's API.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from google.protobuf.message import DecodeError
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from api.deps import DatabaseDep, SettingsDep
from api.errors import BadRequest, Gone, Invalid
from api.web.session import HistoryReaders
from closeout.crypto.history_cipher import HistoryShredded
from closeout.crypto.keyring import KeyUnavailable
from closeout.crypto.vault import data_keys_from
from closeout.settings import Settings
from closeout.temporal import display_codec

router = APIRouter(prefix="/codec", tags=["codec"], include_in_schema=False)


class PayloadJSON(BaseModel):
    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class PayloadsJSON(BaseModel):
    payloads: list[PayloadJSON]


def _to_proto(p: PayloadJSON) -> Payload:
    try:
        return Payload(
            metadata={k: base64.b64decode(v, validate=True) for k, v in p.metadata.items()},
            data=base64.b64decode(p.data, validate=True),
        )
    except binascii.Error as exc:
        raise Invalid(f"a payload is not base64: {exc}") from exc


def _to_json(p: Payload) -> dict[str, object]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
        "data": base64.b64encode(p.data).decode(),
    }


def _cors(settings: Settings) -> dict[str, str]:
    origin = settings.temporal_ui_url.rstrip("/")
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "content-type, x-namespace",
        "Vary": "Origin",
    }


@router.options("/{operation}")
def codec_preflight(operation: str, settings: SettingsDep) -> Response:
    """The browser asks first whether the Web UI may call."""
    return Response(status_code=204, headers=_cors(settings))


@router.post("/decode")
async def decode(
    body: PayloadsJSON, _user: HistoryReaders, settings: SettingsDep, db: DatabaseDep
) -> Response:
    """Encrypted payloads in, plain ones out (410 for a deleted customer's case)."""
    codec = display_codec(settings, data_keys_from(settings, db))
    payloads = [_to_proto(p) for p in body.payloads]
    if codec is not None:
        try:
            payloads = await codec.decode(payloads)
        except HistoryShredded as exc:
            raise Gone(str(exc)) from exc
        except (ValueError, KeyUnavailable, DecodeError) as exc:
            raise BadRequest(f"a payload cannot be decoded: {exc}") from exc
    return JSONResponse({"payloads": [_to_json(p) for p in payloads]}, headers=_cors(settings))
