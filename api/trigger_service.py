"""Webhook deliveries from a CRM: a trigger opens a case, or adds evidence to the open one.

Every delivery carries an idempotency key: a repeated delivery gets the first answer back and
changes nothing; the same key with another body is refused.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from api import schemas
from api.adapters import ApiAdapters
from api.errors import Conflict, Invalid, NotFound
from api.evidence import validated_evidence
from api.temporal_gateway import TemporalGateway
from closeout.contracts import Actor, CloseCustomerInput, EvidenceRequest
from closeout.detection.repository import detection_repository
from closeout.domain import DEFAULT_CHURN_CLASS, Trigger
from closeout.settings import Settings
from closeout.tokens import Principal
from workflows.case_start import add_evidence, open_case


def body_digest(body: schemas.TriggerIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class TriggerService:
    def __init__(
        self, settings: Settings, adapters: ApiAdapters, temporal: TemporalGateway
    ) -> None:
        self.settings = settings
        self.deliveries = detection_repository(settings, adapters.db)
        self.cases = adapters.cases
        self.source = adapters.source
        self.temporal = temporal

    async def receive(
        self, key: str, body: schemas.TriggerIn, user: Principal
    ) -> tuple[int, dict[str, Any], bool]:
        """(status, answer, replayed): a repeated key answers as the first delivery did."""
        digest = body_digest(body)
        prior = self.deliveries.delivery(key)
        if prior is not None:
            if prior.body_sha256 != digest:
                raise Conflict(
                    "this Idempotency-Key was already used for a different delivery; "
                    "use a new key for a new trigger"
                )
            return prior.status_code, prior.response, True
        trigger = Trigger(body.trigger)
        evidence = validated_evidence(trigger, body.evidence)
        if body.policy is not None and body.policy not in self.settings.available_policies:
            raise Invalid(f"unknown policy {body.policy!r}")
        profile = self.source.get_profile(body.customer_id)
        if profile is None:
            raise NotFound(f"unknown customer {body.customer_id!r}")
        policy = body.policy or self.settings.policy_for(
            trigger, profile.value_tier, profile.country
        )
        actor = Actor(user.name, user.role)
        client = await self.temporal.client()
        # The key fixes the case id: two racing deliveries cannot open two cases.
        case_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"trigger/{key}"))
        # Opened as the API opens a case: the answer waits (a few seconds at most) for the
        # worker to record it, so the integrator can read the case it was just given.
        opened = await open_case(
            client,
            CloseCustomerInput(
                case_id=case_id,
                customer_id=body.customer_id,
                trigger=trigger,
                churn_class=body.churn_class or DEFAULT_CHURN_CLASS[trigger],
                policy=policy,
                opened_by=user.name,
                evidence=evidence,
            ),
        )
        running = opened if isinstance(opened, str) else case_id
        if running == case_id:
            status, answer = 201, {"action": "case_opened", "case_id": case_id}
        else:
            request = EvidenceRequest(trigger, evidence, actor, case_id=running)
            added = await add_evidence(client, body.customer_id, request)
            if added == "case_closed":
                raise Conflict(f"the open case {running} ended meanwhile: deliver again")
            status, answer = 200, {"action": added, "case_id": running}
        row = self.deliveries.record_delivery(key, digest, status, answer)
        return row.status_code, row.response, False
