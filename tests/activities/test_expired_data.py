"""Housekeeping removes a data export once its download link has expired, and says so once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.testing import ActivityEnvironment

from closeout.archive import export_key
from closeout.contracts import PurgeRequest
from closeout.domain import NoticeKind
from tests.activities.conftest import World
from worker import build_activities


def test_expired_exports_are_purged_once(world: World) -> None:
    customer = world.customer()
    case_id = world.case(customer)
    fresh, stale = str(uuid.uuid4()), str(uuid.uuid4())
    cases = world.activities.cases
    for export_id in (fresh, stale):
        ActivityEnvironment().run(
            world.activities.prepare_data_export,
            world.step(case_id, customer, "data_export_prepared", export_id),
        )
        # The export's mail: its outbox row dates the download link.
        cases.prepare_notice(export_id, case_id, NoticeKind.DATA_EXPORT, f"<{export_id}@closeout>")
    stale_row = cases.notice(stale)
    assert stale_row is not None
    with cases.db.session() as session:
        stale_row.created_at -= world.settings.export_ttl + timedelta(hours=1)
        session.add(stale_row)
    housekeeping = build_activities(world.settings, world.db).housekeeping
    now = cases.notice(fresh).created_at + timedelta(minutes=1)  # type: ignore[union-attr]

    def purge() -> int:
        result = ActivityEnvironment().run(housekeeping.purge_expired_exports, PurgeRequest(now))
        return result.exports_purged

    assert purge() == 1
    archive = world.activities.archive
    assert archive.get(export_key(customer, stale)) is None
    assert archive.get(export_key(customer, fresh)) is not None, "its link still works"
    assert purge() == 0
    purged = [e for e in cases.case_audit(case_id) if e.action == "data_export_purged"]
    assert [e.details["export_id"] for e in purged] == [stale]
