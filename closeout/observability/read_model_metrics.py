"""Closeout's own gauges, read from the read model when Prometheus scrapes.

Read from the database, not counted in one process's memory, so every API replica reports the
same figures and a restart loses nothing. Labels are stages, kinds and statuses: never a
customer, a case or a person.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from closeout.cases.models import CaseRecord, LegalHoldRecord, NoticeRecord, TaskRecord
from closeout.certificates.models import DeletionCertificate
from closeout.db import Database, table_of
from closeout.domain import Stage, TaskKind, TaskStatus
from closeout.inbound.models import InboundMessage
from closeout.inbound.reading import InboundKind

log = logging.getLogger("closeout.metrics")

# How long one reading serves: scrapes from several Prometheus servers (or a burst of them)
# cost the database one set of queries.
CACHE_SECONDS = 10.0

_CASES = table_of(CaseRecord)
_TASKS = table_of(TaskRecord)
_HOLDS = table_of(LegalHoldRecord)
_NOTICES = table_of(NoticeRecord)
_CERTIFICATES = table_of(DeletionCertificate)
_INBOUND = table_of(InboundMessage)

_CASES_BY_STAGE = select(_CASES.c.stage, func.count()).group_by(_CASES.c.stage)
# The oldest open case of each stage, by when it entered the stage (its last change before
# stage clocks were kept): a case stuck in an automatic stage shows here.
_OLDEST_IN_STAGE = (
    select(_CASES.c.stage, func.min(func.coalesce(_CASES.c.stage_since, _CASES.c.updated_at)))
    .where(_CASES.c.closed_at.is_(None))
    .group_by(_CASES.c.stage)
)
_OPEN_TASKS = (
    select(_TASKS.c.kind, func.count())
    .where(_TASKS.c.status == TaskStatus.OPEN.value)
    .group_by(_TASKS.c.kind)
)
_NOTICES_BY_STATUS = select(_NOTICES.c.status, func.count()).group_by(_NOTICES.c.status)
_ACTIVE_HOLDS = select(func.count()).select_from(_HOLDS).where(_HOLDS.c.released_at.is_(None))
_CERTIFIED = select(func.count()).select_from(_CERTIFICATES)
_INBOUND_BY_KIND = select(_INBOUND.c.kind, func.count()).group_by(_INBOUND.c.kind)


@dataclass(frozen=True)
class Reading:
    """One look at the read model."""

    cases: dict[str, int]
    oldest_in_stage: dict[str, float]
    tasks_open: dict[str, int]
    tasks_overdue: dict[str, int]
    notices: dict[str, int]
    inbound: dict[str, int]
    holds_active: int
    certificates: int


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def read(db: Database, now: datetime) -> Reading:
    with db.transaction() as connection:
        cases = {str(s): int(n) for s, n in connection.execute(_CASES_BY_STAGE)}
        oldest = {
            str(s): max(0.0, (now - _aware(since)).total_seconds())
            for s, since in connection.execute(_OLDEST_IN_STAGE)
            if since is not None
        }
        tasks_open = {str(k): int(n) for k, n in connection.execute(_OPEN_TASKS)}
        overdue = _OPEN_TASKS.where(_TASKS.c.due_at < now)
        tasks_overdue = {str(k): int(n) for k, n in connection.execute(overdue)}
        notices = {str(s): int(n) for s, n in connection.execute(_NOTICES_BY_STATUS)}
        inbound = {str(k): int(n) for k, n in connection.execute(_INBOUND_BY_KIND)}
        holds = int(connection.execute(_ACTIVE_HOLDS).scalar_one())
        certificates = int(connection.execute(_CERTIFIED).scalar_one())
    return Reading(cases, oldest, tasks_open, tasks_overdue, notices, inbound, holds, certificates)


@dataclass(eq=False)
class ReadModelCollector(Collector):
    """The read model's gauges for a Prometheus registry (the API's `/metrics`)."""

    db: Database
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    cache_seconds: float = CACHE_SECONDS
    _last: tuple[float, Reading] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def reading(self) -> Reading:
        with self._lock:
            now = time.monotonic()
            if self._last is None or now - self._last[0] >= self.cache_seconds:
                self._last = (now, read(self.db, self.clock()))
            return self._last[1]

    def describe(self) -> list[GaugeMetricFamily]:
        """Nothing up front: registering asks the database nothing; a scrape does."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "closeout_read_model_up", "1 when the read model answered this scrape, else 0."
        )
        try:
            r = self.reading()
        except SQLAlchemyError as exc:
            # The database not answering spoils only these gauges, not the whole scrape.
            log.warning("the read model's gauges are not available: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        cases = GaugeMetricFamily(
            "closeout_cases", "Cases by stage (closed ones too).", labels=["stage"]
        )
        oldest = GaugeMetricFamily(
            "closeout_case_stage_age_seconds",
            "How long the oldest open case of each stage has been in it.",
            labels=["stage"],
        )
        for stage in Stage:
            cases.add_metric([stage.value], r.cases.get(stage.value, 0))
            if stage is not Stage.CLOSED:
                oldest.add_metric([stage.value], r.oldest_in_stage.get(stage.value, 0.0))
        yield cases
        yield oldest
        tasks_open = GaugeMetricFamily(
            "closeout_tasks_open", "Open human tasks by kind.", labels=["kind"]
        )
        tasks_overdue = GaugeMetricFamily(
            "closeout_tasks_overdue",
            "Open human tasks past their due date, by kind.",
            labels=["kind"],
        )
        # Every kind, zero included: an alert on a series that is missing never fires.
        for kind in sorted({k.value for k in TaskKind} | set(r.tasks_open) | set(r.tasks_overdue)):
            tasks_open.add_metric([kind], r.tasks_open.get(kind, 0))
            tasks_overdue.add_metric([kind], r.tasks_overdue.get(kind, 0))
        yield tasks_open
        yield tasks_overdue
        notices = GaugeMetricFamily(
            "closeout_notices",
            "Messages of the outbox by status (sent, bounced, …).",
            labels=["status"],
        )
        for status, count in sorted(r.notices.items()):
            notices.add_metric([status], count)
        yield notices
        inbound = GaugeMetricFamily(
            "closeout_inbound_messages",
            "Mail received and matched to a case, by kind (reply, auto_reply, bounce, delayed).",
            labels=["kind"],
        )
        for kind in sorted({k.value for k in InboundKind} | set(r.inbound)):
            inbound.add_metric([kind], r.inbound.get(kind, 0))
        yield inbound
        yield GaugeMetricFamily(
            "closeout_legal_holds_active",
            "Legal holds placed and not released.",
            value=r.holds_active,
        )
        yield GaugeMetricFamily(
            "closeout_deletion_certificates",
            "Deletion certificates issued (each a verified deletion).",
            value=r.certificates,
        )
