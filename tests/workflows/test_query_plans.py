"""Every statement a case runs finds its rows through an index: none reads a whole table of
the read model, so a case costs the same with a hundred or a million customers stored.

The statements are those the worker really runs (recorded on the engine) for a case deleted
after a legal hold and one reactivated; SQLite's query planner says how it would find the
rows. SQLite plans without statistics, so the answer does not depend on the rows present."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from closeout.contracts import HoldReleaseRequest, HoldRequest, ReactivateRequest
from closeout.db import Database
from closeout.domain import Outcome, Stage
from closeout.tables import metadata
from tests.workflows.conftest import COMPLIANCE, OWNER_ACTOR, Harness
from workflows.close_customer import CloseCustomerWorkflow

# A whole table read, or a whole index ("SCAN t USING INDEX i"): either grows with the rows.
_SCAN = re.compile(r"^SCAN (\w+)")


@contextmanager
def recorded(db: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        _conn, _cursor, statement, parameters, _context, executemany = args
        if not executemany:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def whole_table_reads(db: Database, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """Each statement that would read one of Closeout's tables whole, with those tables."""
    planned: dict[str, list[str]] = {}
    with db.engine.connect() as conn:
        for statement, parameters in statements:
            verb = statement.lstrip().split(None, 1)[0].upper()
            if statement in planned or verb not in {"SELECT", "UPDATE", "DELETE", "WITH"}:
                continue
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            scans = (_SCAN.match(row[-1]) for row in plan)
            planned[statement] = [m[1] for m in scans if m and m[1] in metadata.tables]
    return {statement: tables for statement, tables in planned.items() if tables}


async def test_a_case_reads_no_table_whole(harness: Harness) -> None:
    h = harness
    assert h.db.engine.dialect.name == "sqlite"
    deleted, reactivated = h.add_customer(), h.add_customer()
    with recorded(h.db) as statements:
        first = await h.start(deleted)
        await h.approve_closure(first)
        await h.stage(first, Stage.RETENTION)
        hold = await first.execute_update(
            CloseCustomerWorkflow.place_legal_hold, HoldRequest("tax audit", COMPLIANCE)
        )
        await h.env.sleep(timedelta(days=4 * 365))
        assert hold.hold_id is not None
        await first.execute_update(
            CloseCustomerWorkflow.release_legal_hold,
            HoldReleaseRequest(hold.hold_id, "audit closed", COMPLIANCE),
        )
        assert (await first.result()).outcome is Outcome.DELETED
        second = await h.start(reactivated)
        await h.approve_closure(second)
        await h.stage(second, Stage.RETENTION)
        await second.execute_update(
            CloseCustomerWorkflow.reactivate, ReactivateRequest("a new contract", OWNER_ACTOR)
        )
        assert (await second.result()).outcome is Outcome.REACTIVATED
    assert len(statements) > 200
    assert whole_table_reads(h.db, statements) == {}
