"""`closeout keys seal-words`: words an earlier version wrote in the clear get sealed, once."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import select, update

from closeout.audit import chain
from closeout.cases.erasure import FREE_TEXT, FreeText
from closeout.cases.models import CaseRecord
from closeout.cases.reseal import AUDIT, seal_plain_words
from closeout.crypto.words import Words
from closeout.db import table_of
from tests.activities.conftest import World, audit
from tests.activities.planting import plant_words
from tests.support import chain_report


def _where(item: FreeText, customer: str) -> Any:
    if item.by == "customer_id":
        return item.table.c.customer_id == customer
    cases = table_of(CaseRecord)
    ids = select(cases.c.id).where(cases.c.customer_id == customer).scalar_subquery()
    return item.table.c.case_id.in_(ids)


def _stored(world: World, item: FreeText, customer: str) -> list[Any]:
    with world.db.transaction() as connection:
        column = item.table.c[item.column]
        return [r[0] for r in connection.execute(select(column).where(_where(item, customer)))]


def test_plain_words_of_earlier_rows_are_sealed_once(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    words = f"Zelda Quux {uuid.uuid4().hex[:6]}"
    plant_words(world, customer, case_id, words)
    # As an earlier version wrote them: in the clear.
    with world.db.transaction() as connection:
        for item in FREE_TEXT:
            value: Any = {"text": words, "days": 3} if item.json else words
            connection.execute(
                update(item.table).where(_where(item, customer)).values({item.column: value})
            )
        chain.append_on(connection, case_id, replace(audit("note"), reason=f"{words} called"))
    assert all(words in str(_stored(world, item, customer)) for item in FREE_TEXT)

    sealed = world.activities.cases.sealed
    result = seal_plain_words(world.db, sealed, batch=2)
    assert set(result.sealed) == {item.name for item in FREE_TEXT} | {AUDIT}
    for item in FREE_TEXT:
        stored = _stored(world, item, customer)
        assert words not in str(stored), item.name
        opened = [Words(sealed.keys, item.scope).open(v) for v in stored]
        assert words in str(opened), item.name
    events = world.activities.cases.case_audit(case_id)
    assert f"{words} called" in [e.reason for e in events]
    # The chain's digests are of the plain content: it still verifies, opened.
    assert chain_report(world.db, world.settings).intact
    assert seal_plain_words(world.db, sealed).sealed == {}
