"""The scan: every rule once over the CRM, then who is new, who has a case, who is excluded,
who is cooling down after a case that ended."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select as sa_select
from sqlalchemy import text
from sqlmodel import Session, col, select

from closeout.cases.models import CaseRecord
from closeout.crm.models import CrmCustomer
from closeout.db import Database, table_of
from closeout.detection.config import COOLING_OUTCOMES, DetectionConfig
from closeout.detection.models import DetectionExclusion
from closeout.detection.rules import ACTIVE, RULES, Rule, severity
from closeout.domain import ChurnClass, Outcome, Trigger

_CASES = table_of(CaseRecord)


class Disposition(StrEnum):
    NEW = "new"  # a case is to be opened
    OPEN_CASE = "open_case"  # the customer has a case: the trigger becomes further evidence
    EXCLUDED = "excluded"  # their account manager asked the scan to leave them alone
    COOLING_DOWN = "cooling_down"  # their last case ended not long ago (settings: cool_down)


@dataclass(frozen=True)
class Candidate:
    customer_id: str
    trigger: Trigger
    churn_class: ChurnClass
    evidence: dict[str, Any]
    disposition: Disposition = Disposition.NEW
    case_id: str | None = None
    also: tuple[Trigger, ...] = ()
    # Why the scan disposed of them so, when a rule of the scan's own decided it.
    why: str | None = None


@dataclass(frozen=True)
class Ended:
    """A case of the customer that ended not long ago, and the cool-down that follows it."""

    case_id: str
    outcome: Outcome
    closed_at: datetime
    until: datetime
    trigger: Trigger
    evidence: dict[str, Any]


@dataclass
class Scan:
    now: datetime
    candidates: list[Candidate]
    seconds: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        """Flagged customers by trigger, churn class and disposition."""
        return {
            "trigger": dict(Counter(str(c.trigger) for c in self.candidates)),
            "churn_class": dict(Counter(str(c.churn_class) for c in self.candidates)),
            "disposition": dict(Counter(str(c.disposition) for c in self.candidates)),
        }

    def of(self, disposition: Disposition) -> list[Candidate]:
        return [c for c in self.candidates if c.disposition is disposition]


class DetectionInputs(Protocol):
    """Where the rules read their facts, when not the reference CRM's tables: a company's own
    CRM that is the customer source (closeout/connectors/sql_detection.py). It answers the
    rules it can with the rows the reference rules give."""

    rules: Sequence[Rule]

    def run(self, rule: Rule, config: DetectionConfig, now: datetime) -> list[Any]: ...


class Detector:
    def __init__(
        self, db: Database, config: DetectionConfig, inputs: DetectionInputs | None = None
    ) -> None:
        self.db = db
        self.config = config
        self.inputs = inputs
        self.rules: Sequence[Rule] = RULES if inputs is None else inputs.rules

    def run_rule(self, rule: Rule, now: datetime) -> list[Any]:
        if self.inputs is not None:
            return self.inputs.run(rule, self.config, now)
        dialect = self.db.engine.dialect.name
        with self.db.session() as session:
            if dialect == "postgresql":
                # Room to hash a million customers in memory, and no JIT compile for a query
                # that runs once a day: for this transaction only.
                session.execute(text(f"SET LOCAL work_mem = '{self.config.postgres_work_mem}'"))
                session.execute(text("SET LOCAL jit = off"))
            return list(session.execute(rule.query(self.config, now, dialect)).all())

    def _timed_rule(self, rule: Rule, now: datetime) -> tuple[list[Any], float]:
        started = time.perf_counter()
        rows = self.run_rule(rule, now)
        return rows, time.perf_counter() - started

    def scan(self, now: datetime, progress: Callable[[Trigger], None] | None = None) -> Scan:
        found: dict[str, Candidate] = {}
        seconds: dict[str, float] = {}
        # The rules run side by side on their own connections; their results are taken in
        # the rules' order, so precedence holds whatever finishes first.
        with ThreadPoolExecutor(max_workers=self.config.scan_parallelism) as pool:
            running = [pool.submit(self._timed_rule, rule, now) for rule in self.rules]
            results = [
                (rule, future.result()) for rule, future in zip(self.rules, running, strict=True)
            ]
        for rule, (rows, took) in results:
            seconds[rule.name] = took
            for row in rows:
                earlier = found.get(row.customer_id)
                if earlier is not None:
                    if rule.trigger in (earlier.trigger, *earlier.also):
                        continue  # a second rule of the same ground adds nothing
                    found[row.customer_id] = Candidate(
                        earlier.customer_id,
                        earlier.trigger,
                        earlier.churn_class,
                        earlier.evidence,
                        also=(*earlier.also, rule.trigger),
                    )
                    continue
                found[row.customer_id] = Candidate(
                    row.customer_id,
                    rule.trigger,
                    rule.churn_class(row),
                    {k: v for k, v in rule.evidence(row, now).items() if v is not None},
                )
            if progress is not None:
                progress(rule.trigger)
        started = time.perf_counter()
        flagged = sorted(found.values(), key=lambda c: c.customer_id)
        if self.inputs is None:  # the reference CRM records the competitor a customer went to
            flagged = self._competitive(flagged)
        candidates = self._dispose(flagged, now)
        seconds["dispositions"] = time.perf_counter() - started
        return Scan(now, candidates, seconds)

    def _competitive(self, candidates: list[Candidate]) -> list[Candidate]:
        """A customer the CRM says moved to (or talks with) a competitor: their churn is
        competitive, the competitor in the evidence, unless the rule that caught them
        already named a churn of another kind than natural."""
        with self.db.session() as session:
            rivals = dict(
                session.exec(
                    select(CrmCustomer.id, CrmCustomer.competitor).where(
                        col(CrmCustomer.competitor).is_not(None), ACTIVE
                    )
                ).all()
            )
        return [
            Candidate(
                **{
                    **c.__dict__,
                    "churn_class": ChurnClass.COMPETITIVE,
                    "evidence": {**c.evidence, "competitor": rivals[c.customer_id]},
                }
            )
            if c.customer_id in rivals and c.churn_class is ChurnClass.NATURAL
            else c
            for c in candidates
        ]

    def _dispose(self, candidates: list[Candidate], now: datetime) -> list[Candidate]:
        # Open cases, live exclusions and the cases ended within the longest cool-down are few
        # next to the customers a scan flags: read them whole, once, rather than asking about
        # each candidate.
        longest = max(self.config.cool_down_after(o) for o in COOLING_OUTCOMES)
        with self.db.session() as session:
            open_cases = {
                customer_id: (case_id, trigger)
                for customer_id, case_id, trigger in session.exec(
                    select(CaseRecord.customer_id, CaseRecord.id, CaseRecord.trigger).where(
                        col(CaseRecord.outcome).is_(None)
                    )
                ).all()
            }
            excluded = set(
                session.exec(
                    select(DetectionExclusion.customer_id).where(
                        col(DetectionExclusion.expires_at) > now
                    )
                ).all()
            )
            ended = self._cooling(session, now, longest) if longest > timedelta(0) else {}
        disposed = []
        for c in candidates:
            if c.customer_id in excluded:
                c = Candidate(**{**c.__dict__, "disposition": Disposition.EXCLUDED})
            elif c.customer_id in open_cases:
                case_id, _trigger = open_cases[c.customer_id]
                c = Candidate(
                    **{**c.__dict__, "disposition": Disposition.OPEN_CASE, "case_id": case_id}
                )
            elif c.customer_id in ended:
                c = self._after_cool_down(c, ended[c.customer_id])
            disposed.append(c)
        return disposed

    def cool_down_of(self, customer_id: str, now: datetime) -> Ended | None:
        """The cool-down the customer is in now, after their latest case that ended so."""
        longest = max(self.config.cool_down_after(o) for o in COOLING_OUTCOMES)
        if longest <= timedelta(0):
            return None
        with self.db.session() as session:
            return self._cooling(session, now, longest, customer_id).get(customer_id)

    def _cooling(
        self, session: Session, now: datetime, longest: timedelta, customer_id: str | None = None
    ) -> dict[str, Ended]:
        """Each customer's latest case among those whose cool-down still runs."""
        cooling: dict[str, Ended] = {}
        query = sa_select(
            _CASES.c.customer_id,
            _CASES.c.id,
            _CASES.c.outcome,
            _CASES.c.closed_at,
            _CASES.c.trigger,
            _CASES.c.evidence,
        ).where(
            _CASES.c.outcome.in_([str(o) for o in COOLING_OUTCOMES]),
            _CASES.c.closed_at > now - longest,
        )
        if customer_id is not None:
            query = query.where(_CASES.c.customer_id == customer_id)
        rows = session.execute(query).all()
        for customer, case_id, outcome, closed_at, trigger, evidence in rows:
            closed = closed_at if closed_at.tzinfo else closed_at.replace(tzinfo=now.tzinfo)
            until = closed + self.config.cool_down_after(Outcome(outcome))
            if until <= now:
                continue
            earlier = cooling.get(customer)
            if earlier is None or closed > earlier.closed_at:
                cooling[customer] = Ended(
                    case_id, Outcome(outcome), closed, until, Trigger(trigger), evidence or {}
                )
        return cooling

    def _after_cool_down(self, c: Candidate, ended: Ended) -> Candidate:
        """Left alone until the cool-down ends, unless a stronger trigger or much worse
        evidence of the same ground caught them; either way the candidate says why."""
        since = f"case {ended.case_id} ended {ended.outcome} on {ended.closed_at.date()}"
        breakers = self.config.cool_down_breakers
        stronger = next((t for t in (c.trigger, *c.also) if t in breakers), None)
        if stronger is not None:
            return Candidate(**{**c.__dict__, "why": f"{stronger} ends the cool-down ({since})"})
        now_bad = severity(c.trigger, c.evidence)
        then_bad = severity(c.trigger, ended.evidence) if ended.trigger == c.trigger else None
        factor = self.config.cool_down_worse_factor
        if now_bad is not None and then_bad is not None and now_bad >= factor * then_bad > 0:
            why = (
                f"flagged in its cool-down: {c.trigger} got worse, {now_bad:g} against "
                f"{then_bad:g} when {since}"
            )
            return Candidate(**{**c.__dict__, "why": why})
        why = f"cooling down until {ended.until.date()}: {since}"
        return Candidate(
            **{
                **c.__dict__,
                "disposition": Disposition.COOLING_DOWN,
                "case_id": ended.case_id,
                "why": why,
            }
        )
