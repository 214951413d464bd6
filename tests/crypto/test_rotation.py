"""Rotating the secret key after a leak, on SQLite and PostgreSQL: sessions and links made
under the old one stop working; deleted customers stay suppressed and certificates still
verify, because their keys come from the master keys and name their key id."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from temporalio.testing import ActivityEnvironment

from api.app import SESSION_COOKIE, create_app
from closeout.cases.models import CaseRecord
from closeout.certificates.models import DeletionCertificate
from closeout.certificates.repository import Certificates
from closeout.crypto.keyring import customer_ref, new_master_key
from closeout.crypto.rekey import rekey_records
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


def test_records_from_before_key_ids_survive_a_rotation_once_rekeyed(
    tmp_path: Path, database_url: str, mail: MailSink
) -> None:
    """A ledger entry and a certificate made with the secret key (before records named a
    master key) are moved onto the current master key; the secret key can then rotate, and
    trusting legacy records be turned off, without forgetting anyone or voiding anything."""
    old = _settings(tmp_path, database_url, mail)
    db = Database.from_url(database_url)
    world = World(old, db)
    customer = world.customer()
    case_id = world.case(customer)
    with db.session() as session:
        case = session.get(CaseRecord, case_id)
        assert case is not None
        case.outcome = "deleted"
        session.add(case)
    # What the ledger and a certificate looked like before they named a key.
    ref, at = customer_ref(old.secret_key, customer), "2026-01-05T10:00:00+00:00"
    line = {"ref": ref, "case_id": case_id, "at": at, "prev": "0" * 64}
    line["hash"] = hashlib.sha256(f"{'0' * 64}|{ref}|{case_id}|{at}".encode()).hexdigest()
    old.suppression_ledger_path.parent.mkdir(parents=True, exist_ok=True)
    old.suppression_ledger_path.write_text(json.dumps(line) + "\n")
    legacy = Certificates(db, old.record_keys())
    body = {"certificate_id": "c-legacy", "case_id": case_id, "customer_id": customer}
    digest, signature = legacy.sign(body)
    forged_body = {**body, "certificate_id": "c-forged"}
    with db.session() as session:
        for cert_id, cert_body, sig in (
            ("c-legacy", body, signature),
            ("c-forged", forged_body, "0" * 64),
        ):
            other = case_id if cert_id == "c-legacy" else world.case(world.customer())
            session.add(
                DeletionCertificate(
                    id=cert_id, case_id=other, issued_at=datetime.now(UTC), body=cert_body,
                    body_sha256=digest, signature=sig,
                )
            )  # fmt: skip

    result = rekey_records(db, ledger_from(old), Certificates(db, old.record_keys()))
    assert (result.ledger_entries, result.certificates, result.unverified) == (1, 1, ["c-forged"])
    again = rekey_records(db, ledger_from(old), Certificates(db, old.record_keys()))
    assert (again.ledger_entries, again.certificates) == (0, 0)
    assert ledger_from(old).check().first_bad_line is None

    rotated = _settings(
        tmp_path, database_url, mail, secret_key=secrets.token_urlsafe(32), legacy_records=False
    )
    assert ledger_from(rotated).is_suppressed(customer)
    certificates = Certificates(db, rotated.record_keys())
    moved = certificates.for_case(case_id)
    assert moved is not None and moved.body["key_id"] == "k1"
    assert moved.body["resigned"]["previous_sha256"] == digest
    assert certificates.is_authentic(moved)
    # Without legacy trust a certificate signed with a (leaked) secret key vouches for nothing.
    minted = legacy.sign({**body, "certificate_id": "c-minted"})
    with db.session() as session:
        session.add(
            DeletionCertificate(
                id="c-minted", case_id=world.case(world.customer()), issued_at=datetime.now(UTC),
                body={**body, "certificate_id": "c-minted"}, body_sha256=minted[0],
                signature=minted[1],
            )
        )  # fmt: skip
    with db.session() as session:
        stored = session.get(DeletionCertificate, "c-minted")
    assert stored is not None and not certificates.is_authentic(stored)
    db.engine.dispose()
