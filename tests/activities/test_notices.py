"""Notices over real SMTP (aiosmtpd on loopback): received once, with both parts."""

from __future__ import annotations

import json
import logging
import ssl
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlmodel import col, select
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from closeout.audit.models import AuditEvent
from closeout.contracts import SendNotice
from closeout.crm.models import CrmContact
from closeout.domain import NoticeKind, Trigger
from closeout.inbound.address import ReplyAddresses
from closeout.mail import MalformedMailError, OutgoingMail, SmtpMailer
from closeout.settings import SmtpSecurity
from tests.activities.conftest import World, audit
from tests.support import MailSink, Refusing, free_port


def notice(
    world: World, customer: str, case_id: str, kind: NoticeKind, notice_id: str | None = None
) -> SendNotice:
    now = datetime.now(UTC)
    return SendNotice(
        notice_id or str(uuid.uuid4()),
        case_id,
        customer,
        kind,
        Trigger.PAYMENT_ARREARS,
        audit("notice_sent"),
        effective_at=now + timedelta(days=30),
        retention_end=now + timedelta(days=3 * 365),
    )


@pytest.mark.parametrize(
    ("kind", "subject", "phrase"),
    [
        (NoticeKind.WIN_BACK, "We'd like to keep you", "want to stay"),
        (
            NoticeKind.ADVANCE_NOTICE,
            "will be closed on",
            "invoices on your account have remained unpaid",
        ),
        (NoticeKind.REMINDER, "Reminder: your", "you can still object"),
        (NoticeKind.CLOSED, "is closed", "What we keep"),
        (NoticeKind.REACTIVATED, "Welcome back", "restored"),
        (NoticeKind.DATA_EXPORT, "data is ready to download", "/exports/"),
    ],
)
async def test_each_notice_arrives_with_text_and_html(
    world: World, mail: MailSink, kind: NoticeKind, subject: str, phrase: str
) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    message = notice(world, customer, case_id, kind)
    assert await ActivityEnvironment().run(world.notices.send_notice, message) is True
    assert (
        await ActivityEnvironment().run(world.notices.send_notice, message) is True
    )  # retry: no resend
    assert len(mail.messages) == 1
    received = mail.messages[0]
    assert subject in str(received["Subject"])
    assert str(received["To"]) == f"accounts@shop{customer}.example"
    assert str(received["Message-ID"]) == f"<{message.notice_id}@closeout>"
    parts = mail.parts(received)
    assert phrase in parts["text/plain"] and phrase.split()[0] in parts["text/html"]
    assert parts["text/html"].lstrip().startswith("<!doctype html>")


class Flaky(MailSink):
    """Refuses the first delivery with a temporary error, then accepts."""

    refusals = 1

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusals:
            self.refusals -= 1
            return "451 Try again later"
        return await super().handle_DATA(server, session, envelope)


def _serve(sink: MailSink) -> Controller:
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    return controller


async def test_temporary_failure_then_one_delivery(world: World) -> None:
    sink = Flaky(free_port())
    controller = _serve(sink)
    try:
        world.settings.smtp_port = sink.port
        customer = world.customer()
        message = notice(world, customer, world.case(customer), NoticeKind.ADVANCE_NOTICE)
        with pytest.raises(Exception, match="451"):
            await ActivityEnvironment().run(world.notices.send_notice, message)
        assert await ActivityEnvironment().run(world.notices.send_notice, message) is True
        assert len(sink.messages) == 1
    finally:
        controller.stop()


async def test_permanent_refusal_is_recorded_not_retried(world: World) -> None:
    sink = Refusing(free_port())
    controller = _serve(sink)
    try:
        world.settings.smtp_port = sink.port
        customer = world.customer()
        case_id = world.case(customer)
        message = notice(world, customer, case_id, NoticeKind.WIN_BACK)
        assert await ActivityEnvironment().run(world.notices.send_notice, message) is False
        assert await ActivityEnvironment().run(world.notices.send_notice, message) is False
        stored = world.activities.cases.notice(message.notice_id)
        assert stored is not None and stored.status == "refused" and sink.messages == []
        with world.db.session() as session:
            contact = session.exec(
                select(CrmContact).where(
                    CrmContact.customer_id == customer, col(CrmContact.is_primary)
                )
            ).one()
            marked = session.exec(
                select(AuditEvent).where(
                    AuditEvent.case_id == case_id, AuditEvent.action == "contact_unreachable"
                )
            ).all()
        assert contact.bounce_count == 1 and len(marked) == 1
    finally:
        controller.stop()


async def test_a_contact_without_an_address_is_unreachable_not_retried(
    world: World, mail: MailSink
) -> None:
    """A contact on file with no e-mail address: refused for good at once (the owner reviews
    the contact), never an attempt retried for ever."""
    customer = world.customer()
    case_id = world.case(customer)
    with world.db.session() as session:
        for contact in session.exec(select(CrmContact).where(CrmContact.customer_id == customer)):
            contact.email = ""
            session.add(contact)
        session.commit()
    message = notice(world, customer, case_id, NoticeKind.WIN_BACK)
    assert await ActivityEnvironment().run(world.notices.send_notice, message) is False
    stored = world.activities.cases.notice(message.notice_id)
    assert stored is not None and stored.status == "refused" and mail.messages == []


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, *, implicit: bool) -> tuple[MailSink, Controller]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    sink = MailSink(free_port())
    if implicit:
        controller = Controller(sink, hostname="127.0.0.1", port=sink.port, ssl_context=context)
    else:
        controller = Controller(
            sink, hostname="127.0.0.1", port=sink.port, tls_context=context, require_starttls=True
        )
    controller.start()
    return sink, controller


@pytest.mark.parametrize("security", [SmtpSecurity.STARTTLS, SmtpSecurity.TLS])
async def test_notices_go_over_tls(
    world: World, certificate_authority: trustme.CA, tmp_path: Path, security: SmtpSecurity
) -> None:
    sink, controller = _tls_server(certificate_authority, implicit=security is SmtpSecurity.TLS)
    ca_file = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(ca_file))
    try:
        world.settings.smtp_port = sink.port
        world.settings.smtp_ca_file = ca_file
        customer = world.customer()
        message = notice(world, customer, world.case(customer), NoticeKind.WIN_BACK)

        world.settings.smtp_security = SmtpSecurity.NONE  # the server insists on TLS
        world.settings.smtp_timeout_seconds = 1.0  # a TLS-only port never greets in plain text
        with pytest.raises(Exception):  # noqa: B017 - retried, and the contact is not blamed
            await ActivityEnvironment().run(world.notices.send_notice, message)
        stored = world.activities.cases.notice(message.notice_id)
        assert stored is not None and stored.status == "pending" and sink.messages == []

        world.settings.smtp_security = security
        assert await ActivityEnvironment().run(world.notices.send_notice, message) is True
        assert len(sink.messages) == 1
    finally:
        controller.stop()


async def test_a_chinese_speaking_customer_reads_chinese(world: World, mail: MailSink) -> None:
    customer = world.customer(locale="zh-CN")
    message = notice(world, customer, world.case(customer), NoticeKind.ADVANCE_NOTICE)
    assert await ActivityEnvironment().run(world.notices.send_notice, message) is True
    received = mail.messages[0]
    subject = str(make_header(decode_header(str(received["Subject"]))))
    assert subject.startswith("您在Example Company的账户将于") and "年" in subject
    parts = mail.parts(received)
    assert "您账户中的发票一直未付款。" in parts["text/plain"]
    assert 'lang="zh-CN"' in parts["text/html"] and "对关闭提出异议" in parts["text/html"]


async def test_headers_outside_ascii_are_encoded_and_read_back(
    world: World, mail: MailSink
) -> None:
    """A sender name and a subject outside ASCII travel as encoded words; addresses never do."""
    world.settings.mail_from = "Société Générale Démo <closeout@example.com>"
    customer = world.customer(locale="zh-CN")
    message = notice(world, customer, world.case(customer), NoticeKind.WIN_BACK)
    assert await ActivityEnvironment().run(world.notices.send_notice, message) is True
    received = mail.messages[0]
    assert parseaddr(str(received["From"])) == ("Société Générale Démo", "closeout@example.com")
    subject = str(received["Subject"])
    assert subject == subject.strip() and not subject.isascii()
    assert {"text/plain", "text/html"} <= set(mail.parts(received))


class Echoing(MailSink):
    """A server whose refusals quote the recipient's address, as real servers do."""

    code = "451 4.2.0"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return f"{self.code} <{address}>: Recipient address rejected"


@pytest.mark.parametrize("code", ["451 4.2.0", "550 5.1.1"])
async def test_mail_errors_name_no_address(
    world: World, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    sink = Echoing(free_port())
    sink.code = code
    controller = _serve(sink)
    caplog.set_level(logging.DEBUG)
    try:
        world.settings.smtp_port = sink.port
        customer = world.customer()
        case_id = world.case(customer)
        address = world.crm.primary_contact(customer).email  # type: ignore[union-attr]
        message = notice(world, customer, case_id, NoticeKind.WIN_BACK)
        try:
            delivered = await ActivityEnvironment().run(world.notices.send_notice, message)
            failure = ""
        except Exception as exc:
            # What the worker's log and the workflow's history would get of it.
            encoded = Failure()
            DataConverter.default.failure_converter.to_failure(
                exc, DataConverter.default.payload_converter, encoded
            )
            delivered, failure = None, "".join(traceback.format_exception(exc)) + str(encoded)
        if code.startswith("4"):
            assert delivered is None and "SMTP 451" in failure
        else:
            assert delivered is False
        ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
        assert address not in failure and not any(address in line for line in ours)
        trail = json.dumps(
            [e.model_dump(mode="json") for e in world.activities.cases.case_audit(case_id)]
        )
        assert address not in trail
    finally:
        controller.stop()


@pytest.mark.parametrize("field", ["name", "email"])
async def test_a_header_error_names_the_mail_not_the_customer(
    world: World, mail: MailSink, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A line break in a contact's name (it lands in the subject) or address is refused by id."""
    caplog.set_level(logging.DEBUG)
    customer = world.customer()
    case_id = world.case(customer)
    planted = {"name": "Mrs Wu\nBcc: harvest@evil.example", "email": "wu@example.com\nBcc: x@y"}
    with world.db.session() as session:
        contact = session.exec(
            select(CrmContact).where(
                CrmContact.customer_id == customer, col(CrmContact.is_primary).is_(True)
            )
        ).one()
        setattr(contact, field, planted[field])
        session.add(contact)
    message = notice(world, customer, case_id, NoticeKind.WIN_BACK)
    with pytest.raises(MalformedMailError) as refused:
        await ActivityEnvironment().run(world.notices.send_notice, message)
    header = "Subject" if field == "name" else "To"
    assert str(refused.value) == (
        f"mail <{message.notice_id}@closeout>: the {header} header holds a line break"
    )
    encoded = Failure()
    DataConverter.default.failure_converter.to_failure(
        refused.value, DataConverter.default.payload_converter, encoded
    )
    told = "".join(traceback.format_exception(refused.value)) + str(encoded)
    told += " ".join(r.getMessage() for r in caplog.records)
    for secret in ("Mrs Wu", "harvest", "wu@example.com"):
        assert secret not in told
    assert mail.messages == []


class Unwritable(SmtpMailer):
    """Builds a message the email package refuses to write out, quoting the header's value."""

    def build(self, mail: OutgoingMail) -> Message:
        msg = super().build(mail)
        msg.replace_header("Subject", "Mrs Wu\nBcc: harvest@evil.example")
        return msg


async def test_a_message_that_cannot_be_written_names_only_its_id(
    world: World, mail: MailSink
) -> None:
    message = OutgoingMail("<m-1@closeout>", "wu@example.com", "Hello", "t", "h")
    with pytest.raises(MalformedMailError) as refused:
        await Unwritable(world.settings).send(message)
    assert str(refused.value) == "mail <m-1@closeout> cannot be written (HeaderParseError)"
    told = "".join(traceback.format_exception(refused.value))
    assert "Mrs Wu" not in told and "harvest" not in told
    assert mail.messages == []


async def test_an_attempt_cut_off_after_sending_resends_the_same_message(
    world: World, mail: MailSink
) -> None:
    """A worker lost between the server's 250 and the outbox update: the retry cannot know
    whether the message arrived, so it sends it again as the same message and says so."""
    customer = world.customer()
    case_id = world.case(customer)
    message = notice(world, customer, case_id, NoticeKind.ADVANCE_NOTICE)
    cases = world.activities.cases
    message_id = f"<{message.notice_id}@closeout>"
    cases.prepare_notice(message.notice_id, case_id, message.kind, message_id)
    assert cases.begin_sending(message.notice_id) is False  # the lost attempt got this far
    assert await ActivityEnvironment().run(world.notices.send_notice, message) is True
    assert len(mail.messages) == 1
    assert mail.messages[0]["Message-ID"] == message_id
    actions = [e.action for e in cases.case_audit(case_id)]
    assert actions.count("notice_delivery_uncertain") == 1 and "notice_sent" in actions
    assert await ActivityEnvironment().run(world.notices.send_notice, message) is True
    assert len(mail.messages) == 1, "once recorded as sent, never again"


# Plain-text AUTH on loopback, for the test only (TLS is tested above).
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtp_auth_from_settings(world: World) -> None:
    sink = MailSink(free_port())
    logins: list[str] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"closeout",
            b"s3cret-pass",
        )
        if ok:
            logins.append(mechanism)
        return AuthResult(success=ok)

    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=sink.port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        world.settings.smtp_port = sink.port
        customer = world.customer()
        message = notice(world, customer, world.case(customer), NoticeKind.WIN_BACK)
        with pytest.raises(Exception, match="SMTP"):  # no credentials: retried, nobody blamed
            await ActivityEnvironment().run(world.notices.send_notice, message)
        world.settings.smtp_username = "closeout"
        world.settings.smtp_password = "s3cret-pass"
        assert await ActivityEnvironment().run(world.notices.send_notice, message) is True
        assert len(sink.messages) == 1 and logins
    finally:
        controller.stop()


async def test_a_restricted_customer_gets_no_mail_and_no_export(
    world: World, mail: MailSink
) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    world.crm.set_status(customer, "restricted")
    withheld = notice(world, customer, case_id, NoticeKind.CLOSED)
    assert await ActivityEnvironment().run(world.notices.send_notice, withheld) is True
    assert await ActivityEnvironment().run(world.notices.send_notice, withheld) is True
    assert world.activities.cases.notice(withheld.notice_id).status == "withheld"  # type: ignore[union-attr]
    assert mail.messages == []
    # Telling them what was deleted is still allowed, and it arrives.
    told = notice(world, customer, case_id, NoticeKind.DELETION_CONFIRMATION)
    assert await ActivityEnvironment().run(world.notices.send_notice, told) is True
    assert [str(m["Subject"]) for m in mail.messages] == [
        "Your data at Example Company has been deleted"
    ]
    with world.db.session() as session:
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.case_id == case_id)).all()
    assert actions.count("notice_withheld") == 1
    with pytest.raises(ApplicationError) as refused:
        ActivityEnvironment().run(
            world.activities.prepare_data_export,
            world.step(case_id, customer, "data_export_prepared", str(uuid.uuid4())),
        )
    assert refused.value.type == "Restricted" and refused.value.non_retryable


async def test_a_notice_carries_its_case_reply_address_when_replies_are_on(
    world: World, mail: MailSink
) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    # Replies off (the default): no Reply-To, answers go by the links only.
    await ActivityEnvironment().run(
        world.notices.send_notice, notice(world, customer, case_id, NoticeKind.WIN_BACK)
    )
    assert mail.messages[-1]["Reply-To"] is None
    on = World(
        world.settings.model_copy(update={"inbound_domain": "replies.example.com"}), world.db
    )
    await ActivityEnvironment().run(
        on.notices.send_notice, notice(on, customer, case_id, NoticeKind.ADVANCE_NOTICE)
    )
    reply_to = str(mail.messages[-1]["Reply-To"])
    assert reply_to.startswith("reply+") and reply_to.endswith("@replies.example.com")
    replies = ReplyAddresses(world.settings.secret_key, "replies.example.com")
    assert replies.case_of(reply_to) == case_id
