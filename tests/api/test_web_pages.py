"""Staff pages in-process: sign-in, sessions, CSRF, who sees what, languages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import select

from api.app import SESSION_COOKIE, create_app
from closeout.audit.models import AuditEvent
from closeout.contracts import AuditEntry, CaseChange, CloseTask
from closeout.crm.reference import ReferenceCrm
from closeout.db import Database
from closeout.domain import Outcome, Stage, TaskDecision, TaskStatus
from closeout.i18n import format_money
from closeout.settings import Settings
from closeout.users.accounts import DEMO_PASSWORD, Accounts
from tests.api.conftest import ADMIN, GRACE, KIM, LI, SAM, ReadModel, Scene, csrf_of, sign_in
from tests.support import read_model


def denials(db: Database) -> list[AuditEvent]:
    """The refusals' events, opened as compliance reads them."""
    with db.session() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "access_denied"))
        found = list(events.all())
    return read_model(db).sealed.open_events(found)


def test_pages_send_strangers_to_the_sign_in_form(client: TestClient, scene: Scene) -> None:
    response = client.get("/inbox?view=queue")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/inbox%3Fview%3Dqueue"


def test_sign_in_and_out(client: TestClient, scene: Scene) -> None:
    token = csrf_of(client.get("/login").text)
    wrong = client.post(
        "/login", data={"email": SAM, "password": "not-it-at-all", "csrf_token": token}
    )
    assert wrong.status_code == 401 and "Wrong e-mail address or password" in wrong.text
    right = client.post(
        "/login",
        data={"email": SAM, "password": DEMO_PASSWORD, "csrf_token": token, "next": "/cases"},
    )
    assert right.status_code == 303 and right.headers["location"] == "/cases"
    inbox = client.get("/inbox")
    assert inbox.status_code == 200 and f'data-task="{scene.sam_task}"' in inbox.text
    token = csrf_of(inbox.text)
    assert client.post("/logout", data={"csrf_token": token}).headers["location"] == "/login"
    assert client.get("/inbox").status_code == 303


def test_sign_in_never_redirects_off_site(client: TestClient, scene: Scene) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "email": SAM,
            "password": DEMO_PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/inbox"


def test_forms_without_the_csrf_token_are_refused(
    client: TestClient, scene: Scene, db: Database
) -> None:
    refused_login = client.post("/login", data={"email": SAM, "password": DEMO_PASSWORD})
    assert refused_login.status_code == 403
    token = sign_in(client, SAM)
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post(f"/tasks/{scene.sam_task}/unclaim", data=data)
        assert response.status_code == 403
        assert "not sent from a Closeout page" in response.text
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/inbox").status_code == 200, "a refused logout leaves the session"
    assert len(denials(db)) >= 4
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303


def test_account_managers_see_their_own_tasks_and_their_group_queue(
    client: TestClient, scene: Scene, db: Database
) -> None:
    sign_in(client, SAM)
    mine = client.get("/inbox").text
    assert f'data-task="{scene.sam_task}"' in mine
    assert scene.li_task not in mine and scene.queue_task not in mine
    queue = client.get("/inbox?view=queue").text
    assert f'data-task="{scene.queue_task}"' in queue
    assert scene.manager_task not in queue and scene.li_task not in queue
    assert client.get("/inbox?view=all").text.count("data-task=") == 1, "all is for managers"
    assert client.get(f"/tasks/{scene.queue_task}").status_code == 200
    for path in (f"/tasks/{scene.li_task}", f"/cases/{scene.li_case}", "/compliance"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "You may not do this" in response.text
    denied = denials(db)
    assert {(d.actor, d.details["path"]) for d in denied} >= {
        (SAM, f"/tasks/{scene.li_task}"),
        (SAM, "/compliance"),
    }
    assert all(d.details["role"] == "account_manager" for d in denied)


def test_overdue_tasks_are_marked_and_sorted_first(client: TestClient, scene: Scene) -> None:
    token = sign_in(client, LI)
    client.post("/preferences/language", data={"language": "en", "csrf_token": token})
    page = client.get("/inbox?due=overdue").text
    assert f'data-task="{scene.li_task}"' in page and "badge overdue" in page
    assert client.get("/inbox?due=someday").status_code == 422


def test_managers_see_every_queue_and_compliance_sees_no_inbox(
    client: TestClient, scene: Scene
) -> None:
    sign_in(client, GRACE)
    everyone = client.get("/inbox?view=all").text
    for task in (scene.li_task, scene.sam_task, scene.queue_task, scene.manager_task):
        assert f'data-task="{task}"' in everyone
    assert f'data-task="{scene.manager_task}"' in client.get("/inbox?view=queue").text
    client.cookies.clear()
    sign_in(client, KIM)
    assert client.get("/inbox").status_code == 403
    assert client.get("/compliance").status_code == 200
    assert client.get(f"/cases/{scene.li_case}").status_code == 200


def test_pages_speak_the_users_language(client: TestClient, scene: Scene) -> None:
    token = sign_in(client, LI)  # Li Na prefers Simplified Chinese
    page = client.get("/inbox").text
    assert 'lang="zh-CN"' in page and "收件箱" in page
    switched = client.post(
        "/preferences/language", data={"language": "en", "csrf_token": token, "back": "/cases"}
    )
    assert switched.headers["location"] == "/cases"
    assert "Inbox" in client.get("/inbox").text
    bad = client.post("/preferences/language", data={"language": "xx", "csrf_token": token})
    assert bad.status_code == 422


def test_session_cookie_is_secure_outside_dev_mode(
    settings: Settings, db: Database, scene: Scene
) -> None:
    Accounts(db).add("ops@example.com", role="admin", password="a-long-password")  # type: ignore[arg-type]
    prod = settings.model_copy(
        update={"dev_mode": False, "secret_key": "3vX4s8VdTt0WNpuigiVzsEglf3CzIqKZKnux7OWx3vs"}
    )
    with TestClient(create_app(prod), base_url="https://testserver", follow_redirects=False) as c:
        token = csrf_of(c.get("/login").text)
        refused = c.post(
            "/login", data={"email": SAM, "password": DEMO_PASSWORD, "csrf_token": token}
        )
        assert refused.status_code == 401, "the demo password works in dev mode only"
        signed = c.post(
            "/login",
            data={"email": "ops@example.com", "password": "a-long-password", "csrf_token": token},
        )
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert cookie.startswith(SESSION_COOKIE)
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_stale_decisions_are_explained_and_change_nothing(
    client: TestClient, scene: Scene, db: Database
) -> None:
    repo = read_model(db)
    repo.close_task(
        CloseTask(
            scene.sam_task,
            TaskStatus.DONE,
            AuditEntry(str(uuid.uuid4()), GRACE, "task_decided", datetime.now(UTC)),
            decision=TaskDecision.FAILED,
            decided_by=GRACE,
        )
    )
    token = sign_in(client, SAM)
    response = client.post(
        f"/tasks/{scene.sam_task}/decision",
        data={"decision": "retained", "comment": "", "csrf_token": token},
    )
    assert response.status_code == 409
    assert f"task {scene.sam_task} is already done: failed by {GRACE}" in response.text
    assert "Record decision" not in response.text, "a decided task offers no form"
    task = repo.get_task(scene.sam_task)
    assert task is not None and task.decision == "failed"


def test_manual_case_form_needs_a_reason(client: TestClient, scene: Scene) -> None:
    token = sign_in(client, SAM)
    found = client.get("/cases/new?q=cust-0001")
    assert found.status_code == 200 and "/cases/new?customer_id=cust-0001" in found.text
    form = {"customer_id": "cust-0001", "trigger": "manual", "reason": " ", "csrf_token": token}
    missing = client.post("/cases/new", data=form)
    assert missing.status_code == 422 and "a reason is required" in missing.text
    assert 'value="cust-0001"' in missing.text, "the form keeps what was typed"
    detected = client.post("/cases/new", data={**form, "trigger": "inactivity", "reason": "x"})
    assert detected.status_code == 422 and "opened by detection" in detected.text
    fraud = client.post("/cases/new", data={**form, "trigger": "fraud", "reason": "chargebacks"})
    assert fraud.status_code == 422 and "fraud report" in fraud.text
    # The policy rules choose the case's policy: an account manager is offered no other, and
    # one named anyway is refused (an unknown one first of all, named).
    assert 'name="policy"' not in found.text
    unknown = client.post("/cases/new", data={**form, "reason": "abuse", "policy": "fast"})
    assert unknown.status_code == 422 and "unknown policy &#39;fast&#39;" in unknown.text
    chosen = client.post("/cases/new", data={**form, "reason": "abuse", "policy": "by-category"})
    assert chosen.status_code == 403 and "the policy rules give this case" in chosen.text
    # An admin, who keeps the records too, chooses among the configured policies.
    client.cookies.clear()
    sign_in(client, ADMIN)
    offered = client.get("/cases/new?customer_id=cust-0001").text
    assert '<option value="by-category" >by-category</option>' in offered
    assert '<option value="fast"' not in offered


def test_managers_preview_the_detection_run(
    client: TestClient, scene: Scene, read_model: ReadModel
) -> None:
    sign_in(client, GRACE)
    page = client.get("/detection")
    assert page.status_code == 200
    # The demo's flagged customers, less those whose case the scene opened.
    assert 'data-customer="cust-0004"' in page.text and "A case opens" in page.text
    assert "Evidence for the open case" in page.text  # cust-0001 and cust-0002 have cases
    assert '<dd id="cooling-down">0</dd>' in page.text
    # cust-0004 was just won back: the preview leaves them alone and says until when.
    won_back = read_model.case("cust-0004")
    now = datetime.now(UTC)
    read_model.repo.apply_case_change(
        CaseChange(
            won_back, AuditEntry(str(uuid.uuid4()), LI, "won_back", now), outcome=Outcome.RETAINED
        )
    )
    page = client.get("/detection")
    assert '<dd id="cooling-down">1</dd>' in page.text
    row = page.text.split('data-customer="cust-0004"')[1].split("</tr>")[0]
    assert f'<a href="/cases/{won_back}">Cooling down after a case</a>' in row
    assert f"case {won_back} ended retained on {now.date()}" in row
    client.cookies.clear()
    sign_in(client, SAM)
    assert client.get("/detection").status_code == 403


def test_a_customer_s_page_shows_their_cases_and_what_detection_does_with_them(
    client: TestClient, scene: Scene, read_model: ReadModel
) -> None:
    csrf = sign_in(client, SAM)  # cust-0001 is Sam's
    page = client.get("/customers/cust-0001")
    assert page.status_code == 200
    assert f'data-case="{scene.sam_case}"' in page.text
    assert "No cool-down: no case of theirs ended lately." in page.text
    assert "Never excluded from detection." in page.text and 'id="exclude-form"' in page.text
    # The case page leads here.
    assert 'href="/customers/cust-0001"' in client.get(f"/cases/{scene.sam_case}").text

    def exclude(reason: str, until: str, customer: str = "cust-0001") -> Response:
        form = {"csrf_token": csrf, "reason": reason, "until": until}
        return client.post(f"/customers/{customer}/exclusions", data=form)

    soon = (datetime.now(UTC) + timedelta(days=30)).date()
    no_reason = exclude(" ", soon.isoformat())
    assert no_reason.status_code == 422 and "an exclusion needs a reason" in no_reason.text
    too_far = exclude("renegotiating", (soon + timedelta(days=400)).isoformat())
    assert too_far.status_code == 422 and "at most a year away" in too_far.text
    assert 'value="renegotiating"' in too_far.text  # what was typed comes back
    done = exclude("renegotiating", soon.isoformat())
    assert done.status_code == 303 and done.headers["location"].endswith("?excluded=1")
    page = client.get(done.headers["location"])
    row = page.text.split('id="exclusions"')[1].split("</table>")[0]
    assert "renegotiating" in row and SAM in row and "in force" in row

    # A case of theirs that ended lately: the page says until when detection waits.
    read_model.repo.apply_case_change(
        CaseChange(
            scene.sam_case,
            AuditEntry(str(uuid.uuid4()), SAM, "won_back", datetime.now(UTC)),
            outcome=Outcome.RETAINED,
        )
    )
    cooling = client.get("/customers/cust-0001").text.split('id="cool-down"')[1].split("</p>")[0]
    assert f"after case {scene.sam_case[:8]} ended" in cooling

    # Another account manager's customer: refused; compliance reads it, without the form.
    assert client.get("/customers/cust-0003").status_code == 403
    assert exclude("mine now", soon.isoformat(), "cust-0003").status_code == 403
    client.cookies.clear()
    sign_in(client, KIM)
    seen = client.get("/customers/cust-0003")
    assert seen.status_code == 200 and 'id="exclude-form"' not in seen.text
    assert client.get("/customers/no-such-customer").status_code == 404


def _at_stage(read_model: ReadModel, case_id: str, stage: Stage) -> None:
    read_model.repo.apply_case_change(
        CaseChange(
            case_id, AuditEntry(str(uuid.uuid4()), "system", "stage", datetime.now(UTC)), stage
        )
    )


def test_a_case_page_offers_the_actions_its_viewer_may_take_at_its_stage(
    client: TestClient, scene: Scene, read_model: ReadModel
) -> None:
    _at_stage(read_model, scene.sam_case, Stage.WIN_BACK)
    sign_in(client, SAM)
    page = client.get(f"/cases/{scene.sam_case}").text
    assert 'id="record-answer"' in page and 'id="cancel-case"' in page
    assert 'id="reactivate-customer"' not in page and 'id="move-retention"' not in page
    assert 'value="phone"' in page and 'value="stay"' in page
    # Another account manager's case offers nothing (the page itself is refused).
    assert client.get(f"/cases/{scene.li_case}").status_code == 403

    _at_stage(read_model, scene.sam_case, Stage.RETENTION)
    page = client.get(f"/cases/{scene.sam_case}").text
    assert 'id="reactivate-customer"' in page
    assert 'id="cancel-case"' not in page and 'id="record-answer"' not in page
    assert 'id="move-retention"' not in page  # compliance's

    client.cookies.clear()
    sign_in(client, KIM)
    page = client.get(f"/cases/{scene.sam_case}").text
    assert 'id="move-retention"' in page and 'id="reactivate-customer"' not in page


def test_a_case_action_without_its_reason_comes_back_explained(
    client: TestClient, scene: Scene, read_model: ReadModel
) -> None:
    _at_stage(read_model, scene.sam_case, Stage.WIN_BACK)
    csrf = sign_in(client, SAM)
    refused = client.post(
        f"/cases/{scene.sam_case}/cancel", data={"csrf_token": csrf, "reason": "  "}
    )
    assert refused.status_code == 422
    assert '<p class="error" role="alert" id="action-error">cancelling needs a reason</p>' in (
        refused.text
    )
    unknown = client.post(
        f"/cases/{scene.sam_case}/customer-answer",
        data={"csrf_token": csrf, "response": "maybe", "channel": "phone"},
    )
    assert unknown.status_code == 422
    client.cookies.clear()
    csrf = sign_in(client, KIM)
    _at_stage(read_model, scene.sam_case, Stage.RETENTION)
    no_date = client.post(
        f"/cases/{scene.sam_case}/retention",
        data={"csrf_token": csrf, "reason": "tax audit", "retention_end": ""},
    )
    assert no_date.status_code == 422
    assert "needs a date and a reason" in no_date.text and 'value="tax audit"' in no_date.text


def test_bulk_actions_answer_for_each_task_on_its_own(
    client: TestClient, db: Database, scene: Scene
) -> None:
    csrf = sign_in(client, SAM)
    inbox = client.get("/inbox").text
    assert f'<input type="checkbox" name="task_id" value="{scene.sam_task}" form="bulk"' in inbox
    nothing = client.post("/inbox/bulk", data={"csrf_token": csrf, "action": "claim"})
    assert nothing.status_code == 422 and "tick at least one task" in nothing.text

    # Sam's win-back task does not take an approval; Li Na's task is not Sam's to touch.
    ticked = {"csrf_token": csrf, "action": "approve", "task_id": [scene.sam_task, scene.li_task]}
    answered = client.post("/inbox/bulk", data=ticked)
    assert answered.status_code == 200
    rows = {
        task: answered.text.split(f'data-bulk-task="{task}"')[1].split("</tr>")[0]
        for task in (scene.sam_task, scene.li_task)
    }
    assert "only approval tasks take this decision, not win_back" in rows[scene.sam_task]
    assert f"task {scene.li_task} belongs to" in rows[scene.li_task]
    assert all("Refused" in row for row in rows.values())
    repo = read_model(db)
    task = repo.get_task(scene.sam_task)
    assert task is not None and task.status == TaskStatus.OPEN  # nothing changed
    with db.session() as session:
        denied = session.exec(
            select(AuditEvent).where(AuditEvent.action == "access_denied", AuditEvent.actor == SAM)
        ).all()
    assert len(denied) == 1  # the refusal of Li Na's task, audited


def test_amounts_read_as_money_in_the_reader_s_language(
    client: TestClient, db: Database, scene: Scene
) -> None:
    history = ReferenceCrm(db).account_history("cust-0001")
    assert history is not None and history.order_value_cents > 100_000
    csrf = sign_in(client, SAM)
    page = client.get(f"/tasks/{scene.sam_task}").text
    orders = format_money(history.order_value_cents, "EUR", "en")
    assert orders.startswith("€") and "," in orders and f" · {orders} · " in page
    client.post("/preferences/language", data={"csrf_token": csrf, "language": "zh-CN"})
    chinese = client.get(f"/tasks/{scene.sam_task}").text
    assert f" · {format_money(history.order_value_cents, 'EUR', 'zh_CN')} · " in chinese
