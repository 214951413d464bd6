"""Refused customer links are counted per address and minute, not chained one event each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from api.app import create_app
from api.link_refusals import SUMMARY, RefusedLinkCounter
from closeout.audit.chain import verify
from closeout.audit.models import AuditEvent
from closeout.db import Database
from closeout.domain import CustomerResponse
from closeout.links import CustomerLink, LinkKind, LinkSigner
from closeout.settings import Settings
from tests.api.conftest import ReadModel
from tests.support import read_model

ATTACKER, CUSTOMER = "203.0.113.7", "198.51.100.20"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, 15, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def app_and_clock(settings: Settings) -> Iterator[tuple[TestClient, Clock]]:
    clock = Clock()
    app = create_app(settings)
    with TestClient(app, client=(ATTACKER, 40000)) as client:
        counter: RefusedLinkCounter = app.state.answers.refused_links
        counter.clock = clock
        yield client, clock


def _link_events(db: Database) -> list[AuditEvent]:
    """The refused links' events, their reasons opened as compliance reads them."""
    with db.session() as session:
        events = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.actor) == "customer-link")
            .order_by(col(AuditEvent.seq))
        ).all()
    return read_model(db).sealed.open_events(events)


def test_a_request_loop_adds_two_events_a_minute_that_count_every_refusal(
    settings: Settings, db: Database, app_and_clock: tuple[TestClient, Clock]
) -> None:
    client, clock = app_and_clock
    limit = settings.refused_links_per_minute
    for n in range(200):
        page = client.get(f"/r/garbage-{n}")
        if n < limit - 1:
            assert page.status_code == 400 and "This link is not valid" in page.text
        else:  # rate-limited for the rest of the minute: still counted
            assert page.status_code == 429 and 0 < int(page.headers["retry-after"]) <= 60
        clock.now += timedelta(milliseconds=100)  # 20 s in all: the same minute
    first = _link_events(db)
    assert [(e.action, e.reason, e.details["count"]) for e in first] == [
        ("customer_link_refused", "forged", 1)
    ]
    assert ATTACKER not in str(first[0].details)
    # The minute turns: the next refusal writes the last minute's summary, then its own event.
    clock.now += timedelta(minutes=1)
    assert client.post("/r/garbage").status_code == 400
    events = _link_events(db)
    assert [e.action for e in events] == [
        "customer_link_refused",
        SUMMARY,
        "customer_link_refused",
    ]
    summary = events[1]
    assert summary.details["count"] == 199 and summary.details["kinds"] == {"forged": 199}
    assert summary.details["client_sha256"] == first[0].details["client_sha256"]
    assert summary.details["minute_at"] == "2026-11-30T09:15:00+00:00"
    assert sum(e.details["count"] for e in events) == 201
    with db.session() as session:
        assert verify(session).intact


def test_each_address_and_case_has_its_own_count_and_the_pages_stay_the_same(
    settings: Settings, db: Database, read_model: ReadModel
) -> None:
    clock = Clock()
    case_id = read_model.case("cust-0003")
    signer = LinkSigner(settings.secret_key)
    stale = CustomerLink(
        "n-1.stay", case_id, CustomerResponse.STAY, datetime.now(UTC) - timedelta(1)
    )
    expired, expired_export = signer.sign(stale), signer.sign(stale, LinkKind.EXPORT)
    app = create_app(settings)
    with TestClient(app, client=(ATTACKER, 40000)) as attacker:
        app.state.answers.refused_links.clock = clock
        for _ in range(5):
            # The customer's own language: cust-0003 reads Chinese.
            assert attacker.post(f"/r/{expired}").status_code == 410
            assert attacker.get("/r/forged").status_code == 400
            assert attacker.get(f"/exports/{expired_export}").status_code == 410
        customer = TestClient(app, client=(CUSTOMER, 40001))
        assert customer.get(f"/r/{expired}").status_code == 410
        events = _link_events(db)
        # At once: each address's first refusal of a minute, under its case as before.
        assert [(e.case_id, e.reason) for e in events] == [
            (case_id, "expired"),
            (None, "forged"),
            (case_id, "expired"),
        ]
        assert events[0].details["client_sha256"] != events[2].details["client_sha256"]
    # The app stopped: what was counted is written.
    summaries = [e for e in _link_events(db) if e.action == SUMMARY]
    assert [(e.case_id, e.details["count"], e.details["kinds"]) for e in summaries] == [
        (case_id, 9, {"expired": 9}),
        (None, 4, {"forged": 4}),
    ]
    assert sum(e.details["count"] for e in _link_events(db)) == 16
