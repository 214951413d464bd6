"""The public request form over HTTP, with the confirmation mail over real SMTP (SQLite and
PostgreSQL): the same answer whatever the address, a signed link only to an address a customer
uses, limits per client and per address, and nothing changed by opening a link. Confirming it
(which starts the case) is tested against the real stack in tests/browser/."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import col, select

from closeout.contracts import AuditEntry, CaseChange, CaseOpened, CloseCustomerInput
from closeout.crm.models import CrmContact
from closeout.crm.reference import ReferenceCrm
from closeout.db import Database
from closeout.domain import ChurnClass, CustomerResponse, Outcome, Stage, Trigger
from closeout.links import CustomerLink, LinkKind, LinkSigner
from closeout.settings import Settings
from tests.api.conftest import ReadModel
from tests.support import MailSink, eventually

LINK = re.compile(r"http://[^\s]+/privacy/request/[^\s?]+\?lang=\w+(?:-\w+)?")


def _address_of(db: Database, customer_id: str) -> str:
    contact = ReferenceCrm(db).primary_contact(customer_id)
    assert contact is not None
    return contact.email


def _sent_page(page: str, email: str) -> str:
    return page.replace(email, "ADDRESS")


async def test_the_form_answers_alike_and_mails_a_link_only_to_a_customer(
    client: TestClient, db: Database, read_model: ReadModel, mail: MailSink
) -> None:
    form = client.get("/privacy/request")
    assert form.status_code == 200 and 'name="email"' in form.text
    known = _address_of(db, "cust-0001")
    stranger = "nobody-here@example.org"
    answered_known = client.post("/privacy/request", data={"email": known.upper()})
    answered_stranger = client.post("/privacy/request", data={"email": stranger})
    assert answered_known.status_code == answered_stranger.status_code == 200
    assert _sent_page(answered_known.text, known.upper()) == _sent_page(
        answered_stranger.text, stranger
    )

    async def sent() -> list[object] | None:
        return mail.messages or None

    [message] = await eventually(sent, what="the confirmation mail")
    assert str(message["To"]) == known.upper()
    assert "Confirm your request" in str(message["Subject"])
    link = LINK.search(mail.parts(message)["text/plain"])  # type: ignore[arg-type]
    assert link is not None
    # Opening the link shows what confirming does; nothing changes yet.
    path = link.group(0).split("127.0.0.1:8000")[-1].split("localhost:8000")[-1]
    opened = client.get(path[path.index("/privacy/") :])
    assert opened.status_code == 200 and "Delete my data" in opened.text
    assert read_model.repo.open_requests() == []


def test_a_wrong_address_forged_link_and_floods_are_refused(
    client: TestClient, db: Database, read_model: ReadModel, mail: MailSink
) -> None:
    wrong = client.post("/privacy/request", data={"email": "not an address"})
    assert wrong.status_code == 422 and "e-mail address your account uses" in wrong.text
    forged = client.get("/privacy/request/not-a-token")
    assert forged.status_code == 400
    assert client.post("/privacy/request/not-a-token").status_code == 400
    # An address gets three confirmation mails a day, however often it is given.
    known = _address_of(db, "cust-0002")
    for _ in range(4):
        assert client.post("/privacy/request", data={"email": known}).status_code == 200
    assert len(mail.messages) == 3
    # A client gets ten submissions an hour (one used above).
    answers = [
        client.post("/privacy/request", data={"email": f"x{i}@example.org"}).status_code
        for i in range(6)
    ]
    assert answers[:5] == [200] * 5 and answers[5] == 429
    refused = client.post("/privacy/request", data={"email": "y@example.org"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_the_form_speaks_chinese_when_asked(client: TestClient) -> None:
    page = client.get("/privacy/request", params={"lang": "zh-CN"})
    assert 'lang="zh-CN"' in page.text and "要求我们删除您的数据" in page.text


async def test_only_the_customers_own_address_gets_a_link(
    client: TestClient, db: Database, read_model: ReadModel, mail: MailSink
) -> None:
    """A secondary contact (a clerk, someone who left) cannot ask for the whole customer to be
    deleted; and the chosen language reaches the mail only as one of the pages' own."""
    with db.session() as session:
        clerk = session.exec(
            select(CrmContact).where(
                CrmContact.customer_id == "cust-0003", col(CrmContact.is_primary).is_(False)
            )
        ).first()
    assert clerk is not None and "@" in clerk.email
    client.post("/privacy/request", data={"email": clerk.email})
    assert mail.messages == []
    known = _address_of(db, "cust-0003")
    client.post(
        "/privacy/request?lang=en%0A%0ACall%20us%20at%20evil.example", data={"email": known}
    )

    async def sent() -> list[object] | None:
        return mail.messages or None

    [message] = await eventually(sent, what="the confirmation mail")
    text = mail.parts(message)["text/plain"]  # type: ignore[arg-type]
    assert "evil.example" not in text
    assert re.search(r"\?lang=en\s", text)


def test_a_link_whose_request_has_ended_opens_nothing_again(
    client: TestClient, web_settings: Settings, read_model: ReadModel
) -> None:
    """Confirmed once, the case ended (withdrawn, cancelled): the same link is refused, not a
    second case under the first one's id."""
    link = CustomerLink(
        "link-1",
        "cust-0001",
        CustomerResponse.REQUEST_DELETION,
        datetime.now(UTC) + timedelta(hours=1),
    )
    token = LinkSigner(web_settings.secret_key).sign(link, LinkKind.REQUEST)
    case_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "privacy-request/link-1"))
    now = datetime.now(UTC)
    read_model.repo.record_case_opened(
        CaseOpened(
            CloseCustomerInput(
                case_id, "cust-0001", Trigger.CUSTOMER_REQUEST, ChurnClass.NATURAL, "standard",
                "customer (request form)", {"channel": "request form"},
            ),
            "close-customer-cust-0001",
            "run-1",
            AuditEntry(str(uuid.uuid4()), "system", "case_opened", now),
        ),
        owner=read_model.owner_of("cust-0001"),
        value_tier="standard",
    )  # fmt: skip
    read_model.repo.apply_case_change(
        CaseChange(
            case_id,
            AuditEntry(str(uuid.uuid4()), "customer", "case_closed", now),
            stage=Stage.CLOSED,
            outcome=Outcome.CANCELLED,
        )
    )
    again = client.post(f"/privacy/request/{token}")
    assert again.status_code == 409 and "already been used" in again.text
