"""Deletion leaves no word of the customer's in the read model, and the verification proves it.

The customer's name is planted in every column `FREE_TEXT` lists (on SQLite and PostgreSQL),
through the paths that write them in real cases; deletion must remove it everywhere, keeping
ids, kinds and dates, and a word put back in any one of them must fail the verification.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import select as model_select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from closeout.archive import export_key
from closeout.cases.erasure import (
    AUDIT_TEXT,
    DELIVERIES,
    FREE_TEXT,
    CustomerWords,
    FreeText,
)
from closeout.cases.models import CaseRecord, LegalHoldRecord
from closeout.crypto.data_keys import KeyDestroyed
from closeout.crypto.words import Words
from closeout.db import table_of
from tests.activities.conftest import World, audit
from tests.activities.planting import plant_words

run = ActivityEnvironment().run
DAYS_30 = timedelta(days=30)


def _case_ids(customer: str) -> Any:
    cases = table_of(CaseRecord)
    return select(cases.c.id).where(cases.c.customer_id == customer).scalar_subquery()


def _values(world: World, item: FreeText, customer: str, opened: bool = False) -> list[Any]:
    """The column's values of the customer's rows as stored, or opened as staff read them."""
    with world.db.transaction() as connection:
        column = item.table.c[item.column]
        if item.by == "customer_id":
            where = item.table.c.customer_id == customer
        else:
            where = item.table.c.case_id.in_(_case_ids(customer))
        values = [row[0] for row in connection.execute(select(column).where(where))]
    if not opened:
        return values
    words = Words(world.activities.cases.sealed.keys, item.scope)
    opened_values = [words.open(v) for v in values]
    if item.name == "inbound_attachment.content":  # a file's bytes, kept as base64
        return [base64.b64decode(v).decode(errors="replace") for v in opened_values if v]
    return opened_values


def _put_back(world: World, item: FreeText, customer: str, words: str) -> None:
    value: Any = {"text": words} if item.json else words
    if item.name == "notice.sealed":
        value = {"to": f"{words}@example.org"}
    with world.db.transaction() as connection:
        if item.by == "customer_id":
            where = item.table.c.customer_id == customer
        else:
            where = item.table.c.case_id.in_(_case_ids(customer))
        connection.execute(update(item.table).where(where).values({item.column: value}))


def test_every_listed_column_is_erased_and_scanned(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    words = f"Zelda Quux {uuid.uuid4().hex[:6]}"
    plant_words(world, customer, case_id, words)
    planted = {
        item.name
        for item in FREE_TEXT
        if any(words in str(v) for v in _values(world, item, customer, opened=True))
    }
    assert planted == {item.name for item in FREE_TEXT} - {"notice.sealed"}
    # Written sealed: no column holds the words themselves, which a database keeps in old
    # row versions after they are erased.
    for item in FREE_TEXT:
        assert not any(words in str(v) for v in _values(world, item, customer)), item.name
    assert set(CustomerWords(world.db).remaining(customer)) == planted | {DELIVERIES}

    removed = run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    again = run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    # The outbox counts on its own; the webhook's delivery goes with the customer.
    assert removed["free_text_fields"] == len(planted) - 1 + 1
    assert again["free_text_fields"] == 0
    for item in FREE_TEXT:
        assert not any(words in str(v) for v in _values(world, item, customer)), item.name
    # Ids, kinds, dates and numbers stay: lists and counts still add up.
    with world.db.session() as session:
        case = session.get(CaseRecord, case_id)
        assert case is not None and case.evidence["further"][0]["evidence"] == {"days": 3}
        holds = session.exec(
            model_select(LegalHoldRecord).where(LegalHoldRecord.case_id == case_id)
        ).all()
        assert len(holds) == 1 and holds[0].released_at is not None
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))

    # A word put back in any one column fails the verification, naming the column only.
    for item in FREE_TEXT:
        _put_back(world, item, customer, words)
        with pytest.raises(ApplicationError) as exc:
            run(world.activities.verify_deletion, world.step(case_id, customer, "verified"))
        assert item.name in str(exc.value) and words not in str(exc.value)
        CustomerWords(world.db).erase(customer)
        world.activities.cases.scrub_recipients(customer, sealed_too=True)
    run(world.activities.verify_deletion, world.step(case_id, customer, "deletion_verified"))
    # So does an audit event of the case written with words after the erasure (their key is
    # gone: it is kept as written, and found).
    late = replace(audit("customer_answered"), reason=f"{words} called again")
    world.activities.cases.append_audit(case_id, late)
    with pytest.raises(ApplicationError, match=AUDIT_TEXT) as exc:
        run(world.activities.verify_deletion, world.step(case_id, customer, "verified"))
    assert words not in str(exc.value)


def test_exports_are_sealed_and_shredded_with_the_customer(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    export_id = str(uuid.uuid4())
    run(
        world.activities.prepare_data_export,
        world.step(case_id, customer, "data_export_prepared", export_id),
    )
    stored = world.activities.archive.get(export_key(customer, export_id))
    assert stored is not None and f"Shop {customer}".encode() not in stored
    assert b"orders" not in stored  # sealed, not merely renamed
    opened = world.activities.vault.get_export(customer, export_id)
    assert opened is not None and f"Shop {customer}".encode() in opened
    run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
    # A copy of the export taken before the deletion (a file backup, say) is unreadable.
    world.activities.archive.put(export_key(customer, export_id), stored)
    with pytest.raises(KeyDestroyed):
        world.activities.vault.get_export(customer, export_id)
