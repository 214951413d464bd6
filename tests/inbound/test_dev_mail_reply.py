"""The caught mail's "reply" button (`POST /dev/mail/{id}/reply`) over real SMTP: the reply goes
to the inbound endpoint threaded on the notice and lands on its case; every way it can go wrong
answers with a reason."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from closeout.inbound.reading import read_mail
from tests.inbound.conftest import Endpoint
from tests.support import free_port

NOTICE_ID = "<advance-7@closeout.example.com>"


def _catch(endpoint: Endpoint, reply_to: str | None) -> str:
    """A notice as the dev catcher keeps it; its id."""
    notice = EmailMessage()
    notice["From"] = "Closeout <closeout@example.com>"
    notice["To"] = "Ana Customer <ana@example.org>"
    notice["Subject"] = "Your account will be closed on 1 January 2027"
    notice["Message-ID"] = NOTICE_ID
    if reply_to:
        notice["Reply-To"] = reply_to
    notice.set_content("Your account will be closed.\nReply to this mail if you disagree.")
    caught = endpoint.settings.mail_catcher_dir
    caught.mkdir(parents=True, exist_ok=True)
    mail_id = "20261201-advance" if reply_to else "20261201-plain"
    (caught / f"{mail_id}.eml").write_bytes(notice.as_bytes())
    return mail_id


@pytest.fixture
def api(endpoint: Endpoint) -> Iterator[TestClient]:
    settings = endpoint.settings.model_copy(update={"inbound_port": endpoint.port})
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def test_the_reply_button_sends_a_threaded_reply_to_the_case(
    endpoint: Endpoint,
    api: TestClient,
) -> None:
    case_id, _customer = endpoint.case()
    mail_id = _catch(endpoint, endpoint.inbound.replies.address_for(case_id))
    page = api.get(f"/dev/mail/{mail_id}", headers={"Accept": "text/html"})
    assert f'action="/dev/mail/{mail_id}/reply"' in page.text
    sent = api.post(
        f"/dev/mail/{mail_id}/reply",
        data={"text": "I was on leave: keep it open."},
        headers={"Accept": "text/html", "Sec-Fetch-Site": "same-origin"},
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("?replied=1")
    shown = api.get(sent.headers["location"], headers={"Accept": "text/html"})
    assert "Reply sent to reply+" in shown.text
    [kept] = endpoint.repo.sealed.open(endpoint.kept(case_id))
    assert kept.text == "I was on leave: keep it open."  # the quoted notice stripped
    assert kept.sender == "Ana Customer <ana@example.org>"
    assert kept.subject == "Re: Your account will be closed on 1 January 2027"
    # JSON too, for scripts.
    again = api.post(f"/dev/mail/{mail_id}/reply", json={"text": "And thanks."})
    assert again.status_code == 200 and again.json()["sent"] is True
    assert len(endpoint.kept(case_id)) == 2


def test_a_reply_threads_on_the_notice() -> None:
    from closeout.mailcatcher import CaughtMail, reply_to_caught

    notice = CaughtMail(
        "m1", "Closeout <c@example.com>", "ana@example.org", "Your account", "today",
        NOTICE_ID, "line one\nline two", None, "reply+x.y@replies.example.com",
    )  # fmt: skip
    reply = read_mail(reply_to_caught(notice, "No thanks.").as_bytes())
    assert set(reply.answers) == {NOTICE_ID}
    assert reply.text == "No thanks."
    assert reply.subject == "Re: Your account"


def test_every_wrong_reply_says_why(endpoint: Endpoint, api: TestClient, tmp_path: Path) -> None:
    case_id, _customer = endpoint.case()
    mail_id = _catch(endpoint, endpoint.inbound.replies.address_for(case_id))
    plain = _catch(endpoint, None)
    cases = [
        (f"/dev/mail/{mail_id}/reply", {"text": "  "}, {}, 422, "needs its text"),
        (f"/dev/mail/{mail_id}/reply", {"text": "x" * 10_001}, {}, 422, "at most"),
        (f"/dev/mail/{plain}/reply", {"text": "hi"}, {}, 409, "no Reply-To"),
        ("/dev/mail/nope/reply", {"text": "hi"}, {}, 404, "no caught message"),
        (f"/dev/mail/{mail_id}/reply", {"text": "hi"}, {"Sec-Fetch-Site": "cross-site"}, 403,
         "own page"),
        (f"/dev/mail/{mail_id}/reply", {"text": "hi"}, {"Origin": "http://evil.example"}, 403,
         "own page"),
    ]  # fmt: skip
    for path, form, headers, status, reason in cases:
        answer = api.post(path, data=form, headers=headers)
        assert answer.status_code == status, (path, form, answer.text)
        assert reason in answer.json()["detail"]
    # Mail for a case Closeout does not know: the endpoint's own refusal, passed on.
    stranger = _catch(endpoint, endpoint.inbound.replies.address_for(str(uuid.uuid4())))
    assert stranger == mail_id  # same file name: overwritten with the stranger's address
    refused = api.post(f"/dev/mail/{mail_id}/reply", data={"text": "hi"})
    assert refused.status_code == 409 and "550" in refused.json()["detail"]
    assert endpoint.kept(case_id) == []
    # No endpoint listening.
    settings = endpoint.settings.model_copy(update={"inbound_port": free_port()})
    with TestClient(create_app(settings)) as down:
        answer = down.post(f"/dev/mail/{mail_id}/reply", data={"text": "hi"})
    assert answer.status_code == 503 and "closeout inbound" in answer.json()["detail"]
    # Outside dev mode there is no caught mail at all.
    production = endpoint.settings.model_copy(update={"dev_mode": False})
    with TestClient(create_app(production)) as prod:
        assert prod.post(f"/dev/mail/{mail_id}/reply", data={"text": "hi"}).status_code == 404
