"""The real dev server, worker and API over HTTP: a case from trigger to deleted."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

import httpx
import pytest
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow

from closeout.constants import DETECTION_SCHEDULE_ID, HOUSEKEEPING_SCHEDULE_ID
from closeout.contracts import DetectionSummary, PurgeResult
from closeout.domain import Trigger, ValueTier
from tests.integration.helpers import decide, new_customer, open_case, open_task, wait_case
from tests.integration.observability import assert_case_observed
from tests.integration.stack import Stack
from tests.support import assert_deleted_in_order

pytestmark = pytest.mark.integration
R = TypeVar("R")


def test_case_runs_from_trigger_to_deletion(stack: Stack) -> None:
    customer = new_customer(stack)
    with stack.client("owner") as api:
        created = open_case(api, customer)
        assert created["workflow_id"] == f"close-customer-{customer}"
        case_id = created["case_id"]

        win_back = open_task(api, case_id, "win_back")
        assert win_back["assignee"] == "li.na@example.com"
        assert decide(api, win_back["id"], "failed").status_code == 202
        approval = open_task(api, case_id, "approval")
        response = decide(api, approval["id"], "approve", comment="no reply to the offer")
        assert response.status_code == 202, response.text
        assert response.json()["stage"] in {"awaiting_effective_date", "backup"}

        retained = wait_case(api, case_id, stage="retention")
        assert retained["retention_end"] is not None and retained["outcome"] is None
        final = wait_case(api, case_id, outcome="deleted")

        assert final["stage"] == "closed"
        actions = [e["action"] for e in final["timeline"]]
        assert_deleted_in_order(actions)
        decided = [e for e in final["timeline"] if e["action"] == "task_decided"]
        assert {e["actor"] for e in decided} == {"li.na@example.com"}
        assert api.get(f"/api/customers/{customer}").status_code == 404

    to_customer = [m for m in stack.mail.messages if customer in str(m["To"])]
    subjects = [str(m["Subject"]) for m in to_customer]
    assert any("keep you" in s for s in subjects)
    assert any("will be closed" in s for s in subjects)
    assert any("is closed" in s for s in subjects)
    assert any("has been deleted" in s for s in subjects)
    assert stack.archive_dir.exists() and not list(stack.archive_dir.glob(f"{customer}/*"))
    with stack.client("compliance") as compliance:
        certificate = compliance.get(f"/api/cases/{case_id}/certificate")
    assert certificate.status_code == 200, certificate.text
    assert certificate.json()["authentic"] and certificate.json()["certificate"]["policy"] == "demo"
    body = certificate.json()["certificate"]
    # The demo policy keeps each category for its own few seconds: five deletion steps, one
    # data key per category destroyed (the backup's went when it was split), and the key of
    # the customer's words in the read model with the last.
    assert [d["categories"] for d in body["deletions"]] == [
        ["marketing_data"],
        ["contact_data"],
        ["interaction_history"],
        ["contracts"],
        ["accounting_records"],
    ]
    assert body["stores"]["data_keys"] == {"destroyed": 6}
    assert_case_observed(stack, customer, case_id)


def test_opening_errors_are_explained(stack: Stack) -> None:
    customer = new_customer(stack)
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        again = api.post(
            "/api/cases",
            json={"customer_id": customer, "trigger": "manual", "evidence": {"reason": "again"}},
        )
        assert again.status_code == 409 and again.json()["case_id"] == case_id
        assert case_id in again.json()["detail"]

        unknown = api.post(
            "/api/cases",
            json={
                "customer_id": "no-such",
                "trigger": "fraud",
                "evidence": {"case_reference": "F-1"},
            },
        )
        assert unknown.status_code == 404 and "no-such" in unknown.json()["detail"]

        bad_trigger = api.post("/api/cases", json={"customer_id": customer, "trigger": "boredom"})
        assert bad_trigger.status_code == 422
        assert bad_trigger.json()["detail"][0]["loc"] == ["body", "trigger"]

        bad_evidence = api.post(
            "/api/cases",
            json={
                "customer_id": customer,
                "trigger": "payment_arrears",
                "evidence": {"invoice_ids": [], "days_overdue": -1},
            },
        )
        assert bad_evidence.status_code == 422
        locs = {tuple(e["loc"]) for e in bad_evidence.json()["detail"]}
        assert ("body", "evidence", "invoice_ids") in locs
        assert ("body", "evidence", "days_overdue") in locs
        assert ("body", "evidence", "overdue_amount_cents") in locs

        manual = api.post(
            "/api/cases", json={"customer_id": customer, "trigger": "manual", "evidence": {}}
        )
        assert manual.status_code == 422

        bad_policy = api.post(
            "/api/cases",
            json={
                "customer_id": customer,
                "trigger": "fraud",
                "evidence": {"case_reference": "F"},
                "policy": "nope",
            },
        )
        assert bad_policy.status_code == 422 and "unknown policy" in bad_policy.json()["detail"]

        api.post(f"/api/cases/{case_id}/cancel", json={"reason": "test over"})


def test_decisions_are_validated_by_the_workflow(stack: Stack) -> None:
    customer = new_customer(stack)
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        win_back = open_task(api, case_id, "win_back")
        wrong = decide(api, win_back["id"], "approve")
        assert wrong.status_code == 422 and "win_back task takes one of" in wrong.json()["detail"]
        assert decide(api, win_back["id"], "failed").status_code == 202
        again = decide(api, win_back["id"], "retained")
        assert again.status_code == 409 and "already" in again.json()["detail"]
        assert decide(api, "no-such-task", "approve").status_code == 404

        approval = open_task(api, case_id, "approval")
        no_comment = decide(api, approval["id"], "reject")
        assert no_comment.status_code == 422 and "comment" in no_comment.json()["detail"]
        past = decide(
            api, approval["id"], "defer", comment="later", defer_until="2020-01-01T00:00:00Z"
        )
        assert past.status_code == 422 and "future" in past.json()["detail"]
        with stack.client("compliance") as officer:
            assert decide(officer, approval["id"], "approve").status_code == 403
        rejected = decide(api, approval["id"], "reject", comment="strategic account")
        assert rejected.status_code == 202
        final = wait_case(api, case_id, outcome="rejected")
        assert final["pending_tasks"] == []
        assert api.post(f"/api/cases/{case_id}/cancel", json={"reason": "x"}).status_code == 409


def test_roles_and_authentication(stack: Stack) -> None:
    customer = new_customer(stack)
    import httpx

    anonymous = httpx.get(f"{stack.api_url}/api/cases")
    assert anonymous.status_code == 401
    forged = httpx.get(f"{stack.api_url}/api/cases", headers={"Authorization": "Bearer cot_forged"})
    assert forged.status_code == 401
    with stack.client("compliance") as officer:
        refused = officer.post(
            "/api/cases",
            json={"customer_id": customer, "trigger": "fraud", "evidence": {"case_reference": "F"}},
        )
        assert refused.status_code == 403 and "compliance_officer" in refused.json()["detail"]
        assert officer.get("/api/cases").status_code == 200
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        hold = api.post(f"/api/cases/{case_id}/legal-holds", json={"reason": "dispute"})
        assert hold.status_code == 403
        with stack.client("compliance") as officer:
            placed = officer.post(
                f"/api/cases/{case_id}/legal-holds",
                json={"reason": "litigation", "reference": "LIT-9"},
            )
            assert placed.status_code == 201, placed.text
            hold_id = placed.json()["hold_id"]
            case = api.get(f"/api/cases/{case_id}").json()
            assert [h["id"] for h in case["legal_holds"] if h["active"]] == [hold_id]
            unknown = officer.post(
                f"/api/cases/{case_id}/legal-holds/nope/release", json={"reason": "x"}
            )
            assert unknown.status_code == 404
            released = officer.post(
                f"/api/cases/{case_id}/legal-holds/{hold_id}/release", json={"reason": "settled"}
            )
            assert released.status_code == 202
            early = officer.post(
                f"/api/cases/{case_id}/retention",
                json={"reason": "x", "retention_end": "2030-01-01T00:00:00Z"},
            )
            assert early.status_code == 409 and "during retention" in early.json()["detail"]
        cancelled = api.post(f"/api/cases/{case_id}/cancel", json={"reason": "paid in full"})
        assert cancelled.status_code == 202 and cancelled.json()["outcome"] == "cancelled"


def test_lists_customers_and_health(stack: Stack) -> None:
    customer = new_customer(stack)
    with stack.client("owner") as api:
        found = api.get("/api/customers", params={"q": customer}).json()
        assert found["total"] == 1 and found["items"][0]["id"] == customer
        assert found["items"][0]["open_case"] is False
        case_id = open_case(api, customer)["case_id"]
        row = api.get("/api/customers", params={"q": customer}).json()["items"][0]
        assert row["open_case"] is True and row["open_case_id"] == case_id
        detail = api.get(f"/api/customers/{customer}").json()
        assert detail["record_counts"]["orders"] > 0 and detail["cases"][0]["id"] == case_id
        page = api.get("/api/cases", params={"limit": 1, "offset": 0, "open": True}).json()
        assert len(page["items"]) == 1 and page["total"] >= 1
        tasks = api.get("/api/tasks", params={"status": "open"}).json()
        assert all(t["status"] == "open" for t in tasks["items"])
        assert api.get("/api/cases", params={"stage": "nowhere"}).status_code == 422
        assert api.get("/api/cases/nope").status_code == 404
        api.post(f"/api/cases/{case_id}/cancel", json={"reason": "test over"})
    import httpx

    health = httpx.get(f"{stack.api_url}/healthz").json()
    assert health == {
        "status": "ok",
        "api": "ok",
        "database": "ok",
        "temporal": "ok",
        "connectors": {"crm": "ok"},
    }
    assert httpx.get(f"{stack.api_url}/dev/mail").status_code == 200


def test_the_worker_keeps_the_housekeeping_and_detection_schedules(stack: Stack) -> None:
    late_payer = new_customer(stack, shaped_after=Trigger.PAYMENT_ARREARS)

    async def run_now(schedule_id: str, result_type: type[R]) -> R:
        client = await stack.temporal()
        schedule = client.get_schedule_handle(schedule_id)
        before = (await schedule.describe()).info.num_actions
        await schedule.trigger()
        for _ in range(300):
            info = (await schedule.describe()).info
            if info.num_actions > before and info.recent_actions:
                run = info.recent_actions[-1].action
                assert isinstance(run, ScheduleActionExecutionStartWorkflow)
                handle = client.get_workflow_handle(
                    run.workflow_id, run_id=run.first_execution_run_id, result_type=result_type
                )
                result: R = await handle.result()
                return result
            await asyncio.sleep(0.1)
        raise AssertionError(f"the triggered {schedule_id} run did not start")

    async def specs() -> tuple[timedelta, int, int, str]:
        client = await Client.connect(stack.temporal_address)
        hourly = (await client.get_schedule_handle(HOUSEKEEPING_SCHEDULE_ID).describe()).schedule
        daily = (await client.get_schedule_handle(DETECTION_SCHEDULE_ID).describe()).schedule
        at = daily.spec.calendars[0]
        return (
            hourly.spec.intervals[0].every,
            at.hour[0].start,
            at.minute[0].start,
            daily.spec.time_zone_name or "",
        )

    assert asyncio.run(specs()) == (timedelta(hours=1), 2, 30, "UTC")
    assert asyncio.run(run_now(HOUSEKEEPING_SCHEDULE_ID, PurgeResult)).exports_purged == 0
    summary = asyncio.run(run_now(DETECTION_SCHEDULE_ID, DetectionSummary))
    assert summary.started >= 1
    with stack.client("admin") as api:
        opened = [
            c
            for c in api.get("/api/cases", params={"open": True}).json()["items"]
            if c["customer_id"] == late_payer
        ]
    assert len(opened) == 1 and opened[0]["trigger"] == "payment_arrears"
    assert opened[0]["opened_by"] == "detection"


def test_crm_webhooks_are_idempotent_and_validated(stack: Stack) -> None:
    customer = new_customer(stack)
    request = {
        "customer_id": customer,
        "trigger": "customer_request",
        "evidence": {"channel": "email", "requested_on": "2026-11-20"},
    }
    with stack.client("integration") as crm:

        def deliver(key: str, body: dict[str, object]) -> httpx.Response:
            return crm.post("/api/triggers", json=body, headers={"Idempotency-Key": key})

        first = deliver("delivery-0001", request)
        assert first.status_code == 201, first.text
        assert first.json()["action"] == "case_opened"
        case_id = first.json()["case_id"]
        again = deliver("delivery-0001", request)
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["Idempotent-Replayed"] == "true"
        other_body = deliver("delivery-0001", {**request, "customer_id": "someone-else"})
        assert other_body.status_code == 409 and "different delivery" in other_body.text

        fraud = {"customer_id": customer, "trigger": "fraud", "evidence": {"case_reference": "F-7"}}
        added = deliver("delivery-0002", fraud)
        assert (added.status_code, added.json()) == (
            200,
            {"action": "evidence_added", "case_id": case_id},
        )
        assert deliver("delivery-0003", fraud).json()["action"] == "evidence_known"

        missing_key = crm.post("/api/triggers", json=request)
        assert missing_key.status_code == 422 and "Idempotency-Key" in missing_key.text
        bad_evidence = deliver("delivery-0004", {**fraud, "evidence": {"ref": "F-7"}})
        assert bad_evidence.status_code == 422
        assert ["body", "evidence", "case_reference"] in [
            e["loc"] for e in bad_evidence.json()["detail"]
        ]
        scan_only = deliver("delivery-0005", {**request, "trigger": "inactivity"})
        assert scan_only.status_code == 422
        assert scan_only.json()["detail"][0]["loc"] == ["body", "trigger"]
    with stack.client("owner") as owner:
        refused = owner.post("/api/triggers", json=request, headers={"Idempotency-Key": "x" * 8})
        assert refused.status_code == 403
    with stack.client("admin") as api:
        case = api.get(f"/api/cases/{case_id}").json()
        assert case["trigger"] == "customer_request"
        assert [f["trigger"] for f in case["evidence"]["further"]] == ["fraud"]
        assert case["opened_by"] == "crm@example.com"
        assert case["policy"] == "standard"  # the default: no rule holds for the tier

    # The settings' rules choose the policy of a case the delivery names none for.
    key_customer = new_customer(stack, tier=ValueTier.KEY)
    with stack.client("integration") as crm:
        opened = crm.post(
            "/api/triggers",
            json={**request, "customer_id": key_customer},
            headers={"Idempotency-Key": "delivery-0006"},
        )
        assert opened.status_code == 201, opened.text
    with stack.client("admin") as api:
        assert api.get(f"/api/cases/{opened.json()['case_id']}").json()["policy"] == "demo"
