"""Backup, revocation, archiving, restore and deletion against the reference CRM.

Each test runs on SQLite and on PostgreSQL, and each step is run twice to prove it idempotent.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlmodel import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from closeout.archive import bundle_key, export_key
from closeout.audit.models import AuditEvent
from closeout.cases.models import ArchiveBundleRecord, NoticeRecord
from closeout.contracts import TermsRequest
from closeout.crm.models import CrmContact, CrmPortalUser
from closeout.crypto.data_keys import OUTBOX_SCOPE, KeyDestroyed
from closeout.domain import ValueTier
from tests.activities.conftest import World, audit

run = ActivityEnvironment().run


def test_backup_is_complete_verified_and_idempotent(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    bundle_id = str(uuid.uuid4())
    step = world.step(case_id, customer, "backup_created", bundle_id)
    first = run(world.activities.backup_customer_data, step)
    second = run(world.activities.backup_customer_data, step)
    assert first == second
    assert first.record_counts["orders"] == 12 and first.record_counts["customer"] == 1
    assert set(first.record_counts) >= {
        "contacts",
        "invoices",
        "interactions",
        "complaints",
        "portal_users",
        "api_keys",
        "subscriptions",
    }
    assert world.activities.archive.keys(f"{customer}/") == [bundle_key(customer, bundle_id)]
    run(world.activities.verify_backup, world.step(case_id, customer, "backup_verified", bundle_id))
    with world.db.session() as session:
        bundles = session.exec(
            select(ArchiveBundleRecord).where(ArchiveBundleRecord.case_id == case_id)
        ).all()
        events = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "backup_created", AuditEvent.case_id == case_id
            )
        ).all()
    assert len(bundles) == 1 and bundles[0].verified_at is not None
    assert len(events) == 1


def test_a_corrupted_bundle_fails_verification(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    bundle_id = str(uuid.uuid4())
    run(
        world.activities.backup_customer_data,
        world.step(case_id, customer, "backup_created", bundle_id),
    )
    path = world.settings.archive_dir / bundle_key(customer, bundle_id)
    data = bytearray(path.read_bytes())
    assert b"Account review" not in data  # sealed: nothing readable at rest
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ApplicationError) as exc:
        run(
            world.activities.verify_backup,
            world.step(case_id, customer, "backup_verified", bundle_id),
        )
    assert exc.value.type == "BundleCorrupt"


def test_revocation_removes_every_grant(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    revoked = run(world.activities.revoke_access, world.step(case_id, customer, "access_revoked"))
    assert revoked == {
        "portal_users_disabled": 1,
        "api_keys_revoked": 1,
        "subscriptions_stopped": 1,
    }
    again = run(world.activities.revoke_access, world.step(case_id, customer, "access_revoked"))
    assert again == {"portal_users_disabled": 0, "api_keys_revoked": 0, "subscriptions_stopped": 0}
    run(world.activities.verify_access_revoked, world.step(case_id, customer, "verified"))
    with world.db.session() as session:
        user = session.exec(
            select(CrmPortalUser).where(CrmPortalUser.customer_id == customer)
        ).one()
        user.enabled = True
        session.add(user)
    with pytest.raises(ApplicationError) as exc:
        run(world.activities.verify_access_revoked, world.step(case_id, customer, "verified"))
    assert exc.value.type == "AccessStillGranted"


def test_archive_restore_and_delete(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    crm = world.crm
    bundle_id = str(uuid.uuid4())
    run(
        world.activities.backup_customer_data,
        world.step(case_id, customer, "backup_created", bundle_id),
    )
    run(world.activities.revoke_access, world.step(case_id, customer, "access_revoked"))
    removed = run(
        world.activities.archive_customer, world.step(case_id, customer, "customer_archived")
    )
    assert removed["interactions"] == 6 and removed["portal_users"] == 1
    assert (
        run(world.activities.archive_customer, world.step(case_id, customer, "customer_archived"))[
            "interactions"
        ]
        == 0
    )
    remaining = crm.remaining_records(customer)
    assert "interactions" not in remaining and remaining["invoices"] == 12
    assert crm.get_profile(customer).status == "closed"  # type: ignore[union-attr]

    restored = run(
        world.activities.restore_customer, world.step(case_id, customer, "reactivated", bundle_id)
    )
    assert restored["interactions"] == 6 and restored["portal_users_enabled"] == 1
    assert (
        run(
            world.activities.restore_customer,
            world.step(case_id, customer, "reactivated", bundle_id),
        )["portal_users_enabled"]
        == 0
    )
    assert crm.get_profile(customer).status == "active"  # type: ignore[union-attr]
    assert crm.access_grants(customer).enabled_portal_users == 1
    assert crm.access_grants(customer).active_api_keys == 0  # keys stay revoked

    run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted", bundle_id))
    run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted", bundle_id))
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))
    assert crm.remaining_records(customer) == {}


def test_deletion_verification_finds_leftovers(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    bundle_id = str(uuid.uuid4())
    run(
        world.activities.backup_customer_data,
        world.step(case_id, customer, "backup_created", bundle_id),
    )
    world.crm.delete_customer(customer)
    with pytest.raises(ApplicationError) as exc:
        run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))
    assert exc.value.type == "DeletionIncomplete" and "archive_bundles=1" in exc.value.message


def test_terms_come_from_policy_and_tier(world: World) -> None:
    high = world.customer(ValueTier.HIGH)
    terms = run(world.activities.resolve_case_terms, TermsRequest(high, "standard"))
    assert terms.four_eyes and terms.owner == "li.na@example.com"
    assert terms.retention.days == 3 * 365
    standard = run(world.activities.resolve_case_terms, TermsRequest(world.customer(), "standard"))
    assert not standard.four_eyes
    for request, kind in [
        (TermsRequest("ghost", "standard"), "UnknownCustomer"),
        (TermsRequest(high, "nope"), "UnknownPolicy"),
    ]:
        with pytest.raises(ApplicationError) as exc:
            run(world.activities.resolve_case_terms, request)
        assert exc.value.type == kind and exc.value.non_retryable


def test_data_export_is_complete_and_deleted_with_the_customer(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    export_id = str(uuid.uuid4())
    size = run(
        world.activities.prepare_data_export,
        world.step(case_id, customer, "data_export_prepared", export_id),
    )
    stored = world.activities.vault.get_export(customer, export_id)
    assert stored is not None and len(stored) == size
    tables = json.loads(stored)
    assert len(tables["orders"]) == 12 and tables["customer"][0]["id"] == customer
    run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    assert world.activities.archive.get(export_key(customer, export_id)) is None
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))


def test_deletion_leaves_no_address_in_the_outbox(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    cases = world.activities.cases
    cases.prepare_notice("n-1", case_id, "win_back", "<n-1@closeout>")
    cases.mark_notice("n-1", "sent", "someone@example.org", audit("notice_sent"))
    removed = run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    assert removed["outbox_addresses"] == 1
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))
    # Nothing more is written to a deleted customer: their outbox key is gone for good, so a
    # notice marked sent keeps no address (and the step does not fail: the mail has left).
    cases.prepare_notice("n-2", case_id, "closed", "<n-2@closeout>")
    cases.mark_notice("n-2", "sent", "someone@example.org", audit("notice_sent"))
    with pytest.raises(KeyDestroyed):
        world.activities.cases.sealed.keys.key_or_create(customer, OUTBOX_SCOPE)
    # An address that comes back (a restored database, say) fails the verification.
    with world.db.session() as session:
        notice = session.get(NoticeRecord, "n-2")
        assert notice is not None and notice.status == "sent" and notice.recipient is None
        notice.recipient = "someone@example.org"
        session.add(notice)
    with pytest.raises(ApplicationError, match="outbox_addresses=1"):
        run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))


def test_notices_go_to_the_primary_contact_else_the_first_else_the_customer(world: World) -> None:
    customer = world.customer()
    crm = world.crm
    slug = f"shop{customer}"
    primary = crm.primary_contact(customer)
    assert primary is not None and primary.email == f"accounts@{slug}.example"
    assert primary.name.endswith("Accounts") and primary.locale == "en"
    with world.db.session() as session:
        first_contact = session.get(CrmContact, f"{customer}-ct1")
        second_contact = session.get(CrmContact, f"{customer}-ct2")
        assert first_contact is not None and second_contact is not None
        first_contact.is_primary, second_contact.is_primary = False, True
        session.add_all([first_contact, second_contact])
    moved = crm.primary_contact(customer)
    assert moved is not None and moved.email == f"office@{slug}.example"
    with world.db.session() as session:
        second_contact = session.get(CrmContact, f"{customer}-ct2")
        assert second_contact is not None
        second_contact.is_primary = False  # no primary: the first contact by id
        session.add(second_contact)
    first = crm.primary_contact(customer)
    assert first is not None and first.email == f"accounts@{slug}.example"
    with world.db.session() as session:
        for contact_id in (f"{customer}-ct1", f"{customer}-ct2"):
            session.delete(session.get(CrmContact, contact_id))
    own = crm.primary_contact(customer)  # no contacts: the customer's own address
    assert own is not None and own.email == f"billing@{slug}.example"
    assert crm.primary_contact("no-such-customer") is None
    profile = crm.get_profile(customer)
    assert profile is not None and (profile.id, profile.owner) == (customer, "li.na@example.com")
    assert crm.get_profile("no-such-customer") is None
