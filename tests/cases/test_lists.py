"""The lists read in index order: the inbox's soonest-due order across assignees and pages,
counts that stop at a bound, the retention clocks a page at a time, names in one query; the
pages' other reads (a customer's account history, a case's file) in one transaction each."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from closeout.cases.inbox import InboxFilter, InboxSort, TaskQueries
from closeout.cases.repository import CaseRepository
from closeout.contracts import (
    AuditEntry,
    CaseChange,
    CaseOpened,
    CloseCustomerInput,
    OpenTask,
)
from closeout.crm.models import (
    CrmComplaint,
    CrmCustomer,
    CrmInteraction,
    CrmInvoice,
    CrmOrder,
    CrmSupportTicket,
)
from closeout.crm.reference import ReferenceCrm
from closeout.crypto.purpose_keys import RecordKeys
from closeout.db import Database
from closeout.demo import add_customer
from closeout.domain import ChurnClass, Stage, TaskKind, Trigger
from closeout.suppression.ledger import FileSuppressionLedger
from tests.support import read_model

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
PEOPLE = ("li.na@example.com", "sam.okafor@example.com", "group:account-managers")


def audit(action: str) -> AuditEntry:
    return AuditEntry(str(uuid.uuid4()), "system", action, NOW)


def open_case(repo: CaseRepository, n: int, owner: str = PEOPLE[0]) -> str:
    case_id = f"case-{n:04d}"
    case = CloseCustomerInput(
        case_id, f"cust-{n:04d}", Trigger.INACTIVITY, ChurnClass.NATURAL, "standard", "x"
    )
    opened = CaseOpened(case, f"close-customer-{n}", "run", replace_at(audit("open"), n))
    repo.record_case_opened(opened, owner=owner)
    return case_id


def replace_at(entry: AuditEntry, n: int) -> AuditEntry:
    return AuditEntry(entry.event_id, entry.actor, entry.action, NOW + timedelta(minutes=n))


def test_inbox_is_soonest_due_first_across_assignees_and_pages(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo, queries = read_model(db), TaskQueries(db, read_model(db).sealed)
    rng = random.Random(3)
    tasks = []
    for n in range(60):
        case_id = open_case(repo, n)
        # Some due at the same moment (ties go by id), some without a due date at all.
        due = None if n % 7 == 0 else NOW + timedelta(hours=rng.randint(-30, 30))
        task = OpenTask(f"t-{rng.randint(0, 10**6):07d}-{n}", case_id, f"cust-{n:04d}",
                        TaskKind.APPROVAL, PEOPLE[n % 3], due, audit("task"))  # fmt: skip
        repo.open_task(task)
        tasks.append(task)

    def expected(who: tuple[str, ...] | None) -> list[str]:
        mine = [t for t in tasks if who is None or t.assignee in who]
        dated = sorted((t for t in mine if t.due_at), key=lambda t: (t.due_at, t.task_id))
        return [t.task_id for t in dated] + sorted(t.task_id for t in mine if t.due_at is None)

    for who in (PEOPLE[:1], PEOPLE[1:], PEOPLE, None):
        want = expected(who)
        for size in (7, 25):
            got: list[str] = []
            for offset in range(0, len(want) + size, size):
                page = queries.inbox(InboxFilter(who, limit=size, offset=offset), NOW)
                assert page.total == len(want)
                got += [row.task.id for row in page.items]
            assert got == want, (who, size)
    newest = queries.inbox(InboxFilter(PEOPLE, sort=InboxSort.NEWEST, limit=100), NOW)
    assert len(newest.items) == 60


def test_counts_stop_at_the_bound_asked_for(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo, queries = read_model(db), TaskQueries(db, read_model(db).sealed)
    for n in range(12):
        case_id = open_case(repo, n, owner=PEOPLE[n % 2])
        repo.open_task(OpenTask(f"task-{n}", case_id, f"cust-{n:04d}", TaskKind.WIN_BACK,
                                PEOPLE[0], NOW, audit("task")))  # fmt: skip
    everyone = repo.list_cases(stage=None, outcome=None, open_only=None, limit=5, offset=0)
    assert (everyone.total, everyone.capped) == (12, False)
    bounded = repo.list_cases(
        stage=None, outcome=None, open_only=None, limit=5, offset=0, count_up_to=10
    )
    assert (bounded.total, bounded.capped, len(bounded.items)) == (10, True, 5)
    exact = repo.list_cases(
        stage=None, outcome=None, open_only=None, limit=5, offset=0, count_up_to=12
    )
    assert (exact.total, exact.capped) == (12, False)
    owned = repo.list_cases(
        stage=None, outcome=None, open_only=None, limit=50, offset=0, owner=PEOPLE[1]
    )
    assert [c.id for c in owned.items] == [f"case-{n:04d}" for n in (11, 9, 7, 5, 3, 1)]
    inbox = queries.inbox(InboxFilter(PEOPLE[:1], limit=5, count_up_to=8), NOW)
    assert (inbox.total, inbox.capped, len(inbox.items)) == (8, True, 5)
    fraud = queries.inbox(InboxFilter(PEOPLE[:1], trigger=Trigger.FRAUD), NOW)
    assert (fraud.total, fraud.items) == (0, [])
    assert queries.counts([PEOPLE[0], PEOPLE[1]], up_to=5) == {PEOPLE[0]: 6, PEOPLE[1]: 0}
    assert queries.counts([PEOPLE[0]]) == {PEOPLE[0]: 12}


def test_retention_clocks_come_a_page_at_a_time(database_url: str) -> None:
    db = Database.from_url(database_url)
    repo = read_model(db)
    ends = {}
    for n in range(23):
        case_id = open_case(repo, n)
        # Pairs of cases share a deletion date: the page's end may fall between them.
        ends[case_id] = NOW + timedelta(days=n // 2)
        repo.apply_case_change(CaseChange(case_id, audit("archived"), Stage.RETENTION,
                                          retention_end=ends[case_id]))  # fmt: skip
    want = sorted(ends, key=lambda c: (ends[c], c))
    got: list[str] = []
    after = None
    while True:
        page = repo.retention_clocks(None, after, 5)
        got += [c.id for c in page]
        if len(page) < 5:
            break
        after = (page[-1].next_deletion_at, page[-1].id)  # type: ignore[assignment]
    assert got == want
    soon = repo.retention_clocks(NOW + timedelta(days=3), None, 50)
    assert [c.id for c in soon] == want[:6]


def test_names_come_in_one_query(database_url: str, tmp_path: Path) -> None:
    db = Database.from_url(database_url)
    with db.session() as session:
        for n in range(3):
            add_customer(session, f"cust-{n}", name=f"Shop {n}", owner=PEOPLE[0])
    names = ReferenceCrm(db).names({"cust-0", "cust-2", "nobody"})
    assert names == {"cust-0": "Shop 0", "cust-2": "Shop 2"}
    assert ReferenceCrm(db).names(set()) == {}
    ledger = FileSuppressionLedger(tmp_path / "ledger.jsonl", RecordKeys({"k1": bytes(32)}, "k1"))
    ledger.suppress("cust-2", "case-2", NOW)
    assert ReferenceCrm(db, ledger).names({"cust-0", "cust-2"}) == {"cust-0": "Shop 0"}


def test_account_history_adds_up_in_one_read(database_url: str, tmp_path: Path) -> None:
    db = Database.from_url(database_url)
    day = timedelta(days=1)
    with db.session() as session:
        session.add(CrmCustomer(id="bare", name="Bare Shop", email="bare@example.com",
                                owner=PEOPLE[0], created_at=NOW))  # fmt: skip
        session.add(CrmCustomer(id="full", name="Full Shop", email="full@example.com",
                                owner=PEOPLE[1], created_at=NOW - 400 * day))  # fmt: skip
        session.flush()  # the customer before the rows that name it
        for n in range(7):
            session.add(CrmOrder(id=f"o{n}", customer_id="full", ordered_at=NOW - n * day,
                                 amount_cents=1000 + n))  # fmt: skip
            session.add(CrmInvoice(id=f"i{n}", customer_id="full", number=f"INV-{n}",
                                   issued_at=NOW - n * day, due_at=NOW - n * day + 30 * day,
                                   amount_cents=500, paid_at=None if n < 2 else NOW))  # fmt: skip
            session.add(CrmComplaint(id=f"c{n}", customer_id="full", at=NOW - n * day,
                                     subject=f"late delivery {n}", is_dispute=n == 0))  # fmt: skip
        for n in range(3):
            session.add(CrmInteraction(id=f"x{n}", customer_id="full", at=NOW - n * day,
                                       channel="call", summary="asked about prices"))  # fmt: skip
            session.add(CrmSupportTicket(id=f"s{n}", customer_id="full", opened_at=NOW,
                                         hours=1.5))  # fmt: skip
    crm = ReferenceCrm(db)
    full = crm.account_history("full", recent=5)
    assert full is not None and full.name == "Full Shop" and full.owner == PEOPLE[1]
    assert (full.orders, full.order_value_cents) == (7, 7 * 1000 + sum(range(7)))
    assert full.last_order_at is not None and full.last_order_at.replace(tzinfo=UTC) == NOW
    assert full.unpaid_cents == 2 * 500
    assert [i.number for i in full.recent_invoices] == [f"INV-{n}" for n in range(5)]
    assert [c.subject for c in full.complaints] == [f"late delivery {n}" for n in range(5)]
    assert full.complaints[0].is_dispute and not full.complaints[1].is_dispute
    assert (full.interactions, full.support_hours) == (3, 4.5)
    bare = crm.account_history("bare")
    assert bare is not None and bare.name == "Bare Shop"
    assert (bare.orders, bare.order_value_cents, bare.unpaid_cents) == (0, 0, 0)
    assert (bare.interactions, bare.support_hours, bare.last_order_at) == (0, 0.0, None)
    assert crm.account_history("nobody") is None
    ledger = FileSuppressionLedger(tmp_path / "ledger.jsonl", RecordKeys({"k1": bytes(32)}, "k1"))
    ledger.suppress("full", "case-full", NOW)
    assert ReferenceCrm(db, ledger).account_history("full") is None
