"""Deleted means unreadable in the files too: after a case ends deleted, no file the system
keeps (its database and write-ahead log, the Temporal server's store, the archive, the
suppression ledger, the logs) holds any of the customer's words as bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from closeout.crm.models import CrmContact, CrmCustomer
from tests.integration.helpers import decide, new_customer, open_case, open_task, wait_case
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration


def _words_of(stack: Stack, customer_id: str) -> set[str]:
    """What the CRM holds that names or reaches the customer."""
    db = stack.db
    with db.session() as session:
        customer = session.get(CrmCustomer, customer_id)
        assert customer is not None
        words = {customer.name, customer.email, customer.phone or ""}
        contacts = session.exec(
            select(CrmContact).where(CrmContact.customer_id == customer_id)
        ).all()
        words |= {c.email for c in contacts} | {c.name for c in contacts}
    db.engine.dispose()
    return {w for w in words if w}


def _files(root: Path) -> list[Path]:
    # The mailbox stands for the customer's own inbox, which the messages were sent to.
    return [p for p in root.rglob("*") if p.is_file() and "mailbox" not in p.parts]


def test_no_file_holds_the_deleted_customers_words(stack: Stack) -> None:
    customer = new_customer(stack)
    words = _words_of(stack, customer)
    name = next(w for w in words if w.startswith("Integration "))
    said = {
        f"{name} asked us to stop all contact",
        f"called {name} twice, no answer",
        f"{name} confirmed in writing",
    }
    reason, win_back_comment, approval_comment = sorted(said)
    with stack.client("owner") as api:
        case_id = open_case(
            api, customer, trigger="manual", evidence={"reason": reason}, churn_class="natural"
        )["case_id"]
        win_back = open_task(api, case_id, "win_back")
        assert decide(api, win_back["id"], "failed", comment=win_back_comment).status_code == 202
        approval = open_task(api, case_id, "approval")
        assert decide(api, approval["id"], "approve", comment=approval_comment).status_code == 202
        # Before the deletion the words are there to be found: the scan below can see them.
        held = [p for p in _files(stack.root) if any(w.encode() in p.read_bytes() for w in words)]
        assert held, "the customer's words should be in the database before the deletion"
        wait_case(api, case_id, outcome="deleted")

    found = {
        (str(path.relative_to(stack.root)), word)
        for path in _files(stack.root)
        for word in words | said
        if word.encode() in path.read_bytes()
    }
    assert not found, f"deleted words still in files: {sorted(found)}"
