"""Webhooks from the CRM: customer requests, fraud, payment defaults."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from api import schemas
from api.deps import Integrator, TriggerServiceDep
from api.openapi_links import CASE_FROM_ANSWER

router = APIRouter(prefix="/api/triggers", tags=["triggers"])


@router.post(
    "",
    status_code=201,
    response_model=schemas.TriggerOut,
    responses={
        200: {
            "model": schemas.TriggerOut,
            "description": "added to the open case",
            "links": CASE_FROM_ANSWER,
        },
        201: {"links": CASE_FROM_ANSWER},
    },
)
async def receive_trigger(
    body: schemas.TriggerBody,
    user: Integrator,
    triggers: TriggerServiceDep,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=8,
            max_length=200,
            description="one per delivery: a repeat gets the first answer back",
        ),
    ],
) -> JSONResponse:
    """Open a case for the customer, or add the trigger to their open case as evidence."""
    status, answer, replayed = await triggers.receive(idempotency_key, body, user)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(answer, status_code=status, headers=headers)
