"""Rotating the secret key after a leak, on SQLite and PostgreSQL: sessions and links made
under the old one stop working; deleted customers stay suppressed and certificates still
verify, because their keys come from the master keys and name their key id."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from temporalio.testing import ActivityEnvironment

from api.app import SESSION_COOKIE, create_app
from closeout.certificates.repository import Certificates
from closeout.crypto.keyring import new_master_key
from closeout.db import Database
from closeout.domain import CustomerResponse, Role
from closeout.links import CustomerLink, LinkKind, LinkSigner
from closeout.settings import Settings
from closeout.suppression.ledger import ledger_from
from closeout.tokens import create_token
from closeout.users.accounts import Accounts
from tests.activities.conftest import World
from tests.api.conftest import csrf_of
from tests.conftest import make_settings
from tests.support import MailSink

run = ActivityEnvironment().run
K1 = new_master_key()


def _settings(tmp_path: Path, database_url: str, mail: MailSink, **values: object) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        mail,
        **({"secret_key": secrets.token_urlsafe(32), "master_keys": {"k1": K1}} | values),
    )


def _signed_in_cookie(settings: Settings) -> str:
    with TestClient(create_app(settings), follow_redirects=False) as client:
        token = csrf_of(client.get("/login").text)
        signed = client.post(
            "/login",
            data={"email": "kim@example.com", "password": "a-long-password", "csrf_token": token},
        )
        assert signed.status_code == 303
        assert client.get("/compliance").status_code == 200
        return client.cookies[SESSION_COOKIE]


def test_rotating_the_secret_key(tmp_path: Path, database_url: str, mail: MailSink) -> None:
    old = _settings(tmp_path, database_url, mail)
    db = Database.from_url(database_url)
    Accounts(db).add("kim@example.com", Role.COMPLIANCE_OFFICER, "a-long-password")
    world = World(old, db)
    customer = world.customer()
    case_id = world.case(customer)
    run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))
    cookie = _signed_in_cookie(old)
    link = CustomerLink(
        "n-1.stay", case_id, CustomerResponse.STAY, datetime.now(UTC) + timedelta(days=1)
    )
    answer = LinkSigner(old.secret_key).sign(link)
    export = LinkSigner(old.secret_key).sign(link, LinkKind.EXPORT)

    # The secret key leaked: a new one, and (while at it) a new master key for new records.
    new = _settings(
        tmp_path,
        database_url,
        mail,
        secret_key=secrets.token_urlsafe(32),
        master_keys={"k1": K1, "k2": new_master_key()},
        master_key_id="k2",
    )
    assert ledger_from(new).is_suppressed(customer), "the deleted customer stays suppressed"
    assert not ledger_from(new).is_suppressed(f"cust-{uuid.uuid4().hex[:8]}")
    certificates = Certificates(db, new.record_keys())
    certificate = certificates.for_case(case_id)
    assert certificate is not None and certificate.body["key_id"] == "k1"
    assert certificates.is_authentic(certificate)
    # Without the master key it names, a certificate cannot be vouched for.
    without_k1 = _settings(tmp_path, database_url, mail, master_keys={"k2": new_master_key()})
    assert not Certificates(db, without_k1.record_keys()).is_authentic(certificate)

    with TestClient(create_app(new), follow_redirects=False) as client:
        client.cookies.set(SESSION_COOKIE, cookie)
        ended = client.get("/compliance")
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
        assert client.get(f"/r/{answer}").status_code == 400, "the old answer link is forged"
        assert client.get(f"/exports/{export}").status_code == 400
        headers = {"Authorization": f"Bearer {create_token(db, 'kim@example.com', None)}"}
        shown = client.get(f"/api/cases/{case_id}/certificate", headers=headers)
        assert shown.status_code == 200 and shown.json()["authentic"] is True
    # New deletions are keyed and signed under the new master key.
    other = world.customer()
    assert ledger_from(new).suppress(other, "case-2", datetime.now(UTC))
    assert ledger_from(new).ref(other).startswith("k2:")
    db.engine.dispose()
