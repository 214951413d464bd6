"""One set-based query per trigger (domain §1), the same on SQLite and PostgreSQL.

Each rule selects the flagged customers with the facts its evidence needs; dates are compared
in SQL against cut-offs computed here, and turned into day counts in Python, so no query
depends on a dialect's date arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, or_, select
from sqlmodel import col

from closeout.crm.models import (
    CrmComplaint,
    CrmContact,
    CrmCustomer,
    CrmInteraction,
    CrmInvoice,
    CrmOrder,
    CrmSupportTicket,
)
from closeout.detection.config import DetectionConfig
from closeout.detection.data_quality import (
    duplicate_evidence,
    duplicates,
    no_contact,
    no_contact_evidence,
)
from closeout.detection.query import ACTIVE, Query
from closeout.domain import DEFAULT_CHURN_CLASS, ChurnClass, Trigger

__all__ = ["ACTIVE", "RULES", "Rule", "severity"]


def _days(now: datetime, moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    return max((now - moment).days, 0)


def _ids(joined: str | None) -> list[str]:
    return sorted(i for i in (joined or "").split(",") if i)


@dataclass(frozen=True)
class Rule:
    trigger: Trigger
    # (thresholds, now, the database's dialect name) -> the rule's one query
    query: Callable[[DetectionConfig, datetime, str], Query]
    evidence: Callable[[Any, datetime], dict[str, Any]]
    churn_class: Callable[[Any], ChurnClass] = lambda _row: ChurnClass.NATURAL
    # A second rule for the same trigger names itself (its timing is reported under it).
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or str(self.trigger)


# ---------------------------------------------------------------- inactivity


# Per-customer facts as correlated subqueries: each one is an index seek on
# (customer_id, time), paid only for the rows that reach the select list or the filter.


def _last(model: Any, column: Any) -> Any:
    return (
        select(func.max(column))
        .where(model.customer_id == col(CrmCustomer.id))
        .correlate(CrmCustomer)
        .scalar_subquery()
    )


def _any_since(model: Any, column: Any, since: datetime) -> Any:
    return (
        select(literal(1))
        .where(model.customer_id == col(CrmCustomer.id), column >= since)
        .correlate(CrmCustomer)
        .exists()
    )


def inactivity(cfg: DetectionConfig, now: datetime, dialect: str = "sqlite") -> Query:
    cutoff = now - timedelta(days=cfg.inactivity_days)
    return select(
        col(CrmCustomer.id).label("customer_id"),
        col(CrmCustomer.created_at).label("since"),
        _last(CrmOrder, col(CrmOrder.ordered_at)).label("last_order"),
        _last(CrmInteraction, col(CrmInteraction.at)).label("last_interaction"),
    ).where(
        ACTIVE,
        col(CrmCustomer.created_at) < cutoff,
        ~_any_since(CrmOrder, col(CrmOrder.ordered_at), cutoff),
        ~_any_since(CrmInteraction, col(CrmInteraction.at), cutoff),
    )


def _inactivity_evidence(row: Any, now: datetime) -> dict[str, Any]:
    latest = max(
        (m for m in (row.last_order, row.last_interaction, row.since) if m is not None),
        key=lambda m: m.replace(tzinfo=None),
    )
    return {
        "inactive_days": _days(now, latest),
        "last_order_date": row.last_order.date().isoformat() if row.last_order else None,
        "last_interaction_date": (
            row.last_interaction.date().isoformat() if row.last_interaction else None
        ),
    }


# ---------------------------------------------------------------- declining orders


def declining_orders(cfg: DetectionConfig, now: datetime, dialect: str = "sqlite") -> Query:
    """Still ordering, but far less: the orders of the last window against the window before,
    flagged when they fell by `order_drop_min_percent` or more from at least
    `order_drop_min_orders`."""
    window = timedelta(days=cfg.order_drop_window_days)
    recent_since = now - window
    at = col(CrmOrder.ordered_at)
    recent = func.sum(case((at >= recent_since, 1), else_=0))
    before = func.sum(case((at < recent_since, 1), else_=0))
    return (
        select(
            col(CrmOrder.customer_id).label("customer_id"),
            recent.label("recent"),
            before.label("before"),
            func.max(at).label("last_order"),
        )
        .join(CrmCustomer, col(CrmCustomer.id) == col(CrmOrder.customer_id))
        .where(ACTIVE, at >= recent_since - window, at < now)
        .group_by(col(CrmOrder.customer_id))
        .having(
            before >= cfg.order_drop_min_orders,
            recent * 100 <= before * (100 - cfg.order_drop_min_percent),
        )
    )


def _declining_evidence(row: Any, now: datetime) -> dict[str, Any]:
    before, recent = int(row.before), int(row.recent)
    return {
        "inactive_days": _days(now, row.last_order),
        "last_order_date": row.last_order.date().isoformat() if row.last_order else None,
        "order_drop_percent": round(100 * (before - recent) / before, 1),
    }


# ---------------------------------------------------------------- payment arrears


def payment_arrears(cfg: DetectionConfig, now: datetime, dialect: str = "sqlite") -> Query:
    overdue_since = now - timedelta(days=cfg.arrears_min_days_overdue)
    n = func.count(col(CrmInvoice.id))
    amount = func.sum(col(CrmInvoice.amount_cents))
    return (
        select(
            col(CrmInvoice.customer_id).label("customer_id"),
            n.label("invoices"),
            amount.label("amount"),
            func.min(col(CrmInvoice.due_at)).label("oldest_due"),
            func.aggregate_strings(col(CrmInvoice.id), ",").label("invoice_ids"),
        )
        .join(CrmCustomer, col(CrmCustomer.id) == col(CrmInvoice.customer_id))
        .where(ACTIVE, col(CrmInvoice.paid_at).is_(None), col(CrmInvoice.due_at) < overdue_since)
        .group_by(col(CrmInvoice.customer_id))
        .having(or_(n >= cfg.arrears_min_invoices, amount >= cfg.arrears_min_amount_cents))
    )


def _arrears_evidence(row: Any, now: datetime) -> dict[str, Any]:
    return {
        "invoice_ids": _ids(row.invoice_ids),
        "overdue_amount_cents": int(row.amount),
        "days_overdue": _days(now, row.oldest_due),
        "default_count": int(row.invoices),
    }


# ---------------------------------------------------------------- money and effort


def _window_sum(model: Any, value: Any, at: Any, since: datetime, name: str) -> Any:
    return (
        select(
            model.customer_id.label("customer_id"),
            func.sum(value).label(name),
            func.count().label(f"{name}_n"),
        )
        .where(at >= since)
        .group_by(model.customer_id)
        .subquery()
    )


def unprofitable(cfg: DetectionConfig, now: datetime, dialect: str = "sqlite") -> Query:
    since = now - timedelta(days=cfg.profit_window_days)
    # Only customers who cost support time can run at a loss: start from them.
    hours = _window_sum(
        CrmSupportTicket, col(CrmSupportTicket.hours), col(CrmSupportTicket.opened_at), since, "h"
    )
    revenue = (
        select(func.coalesce(func.sum(col(CrmOrder.amount_cents)), 0))
        .where(col(CrmOrder.customer_id) == hours.c.customer_id, col(CrmOrder.ordered_at) >= since)
        .correlate(hours)
        .scalar_subquery()
    )
    cost = hours.c.h * cfg.support_hour_cost_cents
    return (
        select(hours.c.customer_id, revenue.label("revenue"), cost.label("cost"))
        .join(CrmCustomer, col(CrmCustomer.id) == hours.c.customer_id)
        .where(
            ACTIVE,
            cost > 0,
            # margin % = (revenue - cost) / revenue * 100 < threshold, written without dividing
            # and with the revenue once, so it is summed once per customer.
            revenue * (100 - literal(cfg.unprofitable_below_margin_percent)) < cost * 100,
        )
    )


def _unprofitable_evidence(row: Any, _now: datetime) -> dict[str, Any]:
    revenue, cost = int(row.revenue), round(float(row.cost))
    margin = -100.0 if revenue == 0 else round((revenue - cost) * 100 / revenue, 1)
    return {"revenue_cents": revenue, "cost_to_serve_cents": cost, "margin_percent": margin}


def resource_drain(cfg: DetectionConfig, now: datetime, dialect: str = "sqlite") -> Query:
    since = now - timedelta(days=cfg.drain_window_days)
    load = (
        select(
            col(CrmSupportTicket.customer_id).label("customer_id"),
            col(CrmCustomer.value_tier).label("tier"),
            func.sum(col(CrmSupportTicket.hours)).label("hours"),
            func.count().label("tickets"),
        )
        .join(CrmCustomer, col(CrmCustomer.id) == col(CrmSupportTicket.customer_id))
        .where(ACTIVE, col(CrmSupportTicket.opened_at) >= since)
        .group_by(col(CrmSupportTicket.customer_id), col(CrmCustomer.value_tier))
        .cte("load")
    )
    if dialect == "postgresql":
        # One pass: the ordered-set aggregate PostgreSQL has for exactly this.
        median = (
            select(
                load.c.tier,
                func.percentile_cont(0.5).within_group(load.c.hours).label("median"),
            )
            .group_by(load.c.tier)
            .cte("median")
        )
    else:
        ranked = select(
            load.c.tier,
            load.c.hours,
            func.row_number().over(partition_by=load.c.tier, order_by=load.c.hours).label("rn"),
            func.count().over(partition_by=load.c.tier).label("cnt"),
        ).cte("ranked")
        middle = or_(ranked.c.rn == (ranked.c.cnt + 1) / 2, ranked.c.rn == (ranked.c.cnt + 2) / 2)
        median = (
            select(ranked.c.tier, func.avg(ranked.c.hours).label("median"))
            .where(middle)
            .group_by(ranked.c.tier)
            .cte("median")
        )
    return (
        select(load.c.customer_id, load.c.hours, load.c.tickets, median.c.median)
        .join(median, median.c.tier == load.c.tier)
        .where(median.c.median > 0, load.c.hours >= median.c.median * cfg.drain_ratio)
    )


def _drain_evidence(row: Any, _now: datetime) -> dict[str, Any]:
    return {
        "ticket_count": int(row.tickets),
        "support_hours": round(float(row.hours), 1),
        "ratio_to_segment_median": round(float(row.hours) / float(row.median), 1),
    }


# ---------------------------------------------------------------- relationship


def relationship_breakdown(cfg: DetectionConfig, now: datetime, dialect: str = "sqlite") -> Query:
    since = now - timedelta(days=cfg.complaint_window_days)
    dispute = col(CrmComplaint.is_dispute)
    return (
        select(
            col(CrmComplaint.customer_id).label("customer_id"),
            func.aggregate_strings(case((~dispute, col(CrmComplaint.id))), ",").label(
                "complaint_ids"
            ),
            func.aggregate_strings(case((dispute, col(CrmComplaint.id))), ",").label("dispute_ids"),
        )
        .join(CrmCustomer, col(CrmCustomer.id) == col(CrmComplaint.customer_id))
        .where(ACTIVE, col(CrmComplaint.at) >= since)
        .group_by(col(CrmComplaint.customer_id))
        .having(func.count() >= cfg.complaint_min)
    )


def _relationship_evidence(row: Any, _now: datetime) -> dict[str, Any]:
    return {"complaint_ids": _ids(row.complaint_ids), "dispute_ids": _ids(row.dispute_ids)}


def unreachable(cfg: DetectionConfig, now: datetime, dialect: str = "sqlite") -> Query:
    cutoff = now - timedelta(days=cfg.unreachable_days)
    return (
        select(
            col(CrmContact.customer_id).label("customer_id"),
            col(CrmContact.bounce_count).label("bounces"),
            col(CrmCustomer.created_at).label("since"),
            _last(CrmInteraction, col(CrmInteraction.at)).label("last_interaction"),
        )
        .join(CrmCustomer, col(CrmCustomer.id) == col(CrmContact.customer_id))
        .where(
            ACTIVE,
            col(CrmContact.is_primary),
            col(CrmContact.bounce_count) >= cfg.unreachable_min_bounces,
            col(CrmCustomer.created_at) < cutoff,
            ~_any_since(CrmInteraction, col(CrmInteraction.at), cutoff),
        )
    )


def _unreachable_evidence(row: Any, now: datetime) -> dict[str, Any]:
    return {
        "bounced_emails": int(row.bounces),
        "days_without_answer": _days(now, row.last_interaction or row.since),
    }


RULES: Sequence[Rule] = (
    # In order of precedence: a customer caught by several rules is flagged for the first.
    # A record that duplicates another, or cannot be reached at all, is reviewed first: no
    # win-back offer goes to a duplicate, no closure to a record nobody can be told of.
    Rule(Trigger.DATA_QUALITY, duplicates, duplicate_evidence, label="duplicate_records"),
    Rule(Trigger.DATA_QUALITY, no_contact, no_contact_evidence, label="no_contact"),
    Rule(
        Trigger.PAYMENT_ARREARS,
        payment_arrears,
        _arrears_evidence,
        # Many unpaid invoices look deliberate: still a person to talk to, not a fraud.
        lambda row: ChurnClass.RETALIATORY if row.invoices >= 5 else ChurnClass.NON_MALICIOUS,
    ),
    Rule(
        Trigger.RELATIONSHIP_BREAKDOWN,
        relationship_breakdown,
        _relationship_evidence,
        lambda _row: DEFAULT_CHURN_CLASS[Trigger.RELATIONSHIP_BREAKDOWN],
    ),
    Rule(Trigger.UNREACHABLE, unreachable, _unreachable_evidence),
    # Buying nothing and saying nothing explains a case better than what it costs.
    Rule(Trigger.INACTIVITY, inactivity, _inactivity_evidence),
    # Buying far less than before: the same ground, caught before the silence is complete.
    Rule(Trigger.INACTIVITY, declining_orders, _declining_evidence, label="declining_orders"),
    Rule(
        Trigger.UNPROFITABLE,
        unprofitable,
        _unprofitable_evidence,
        lambda _row: DEFAULT_CHURN_CLASS[Trigger.UNPROFITABLE],
    ),
    Rule(
        Trigger.RESOURCE_DRAIN,
        resource_drain,
        _drain_evidence,
        lambda _row: DEFAULT_CHURN_CLASS[Trigger.RESOURCE_DRAIN],
    ),
)


# ---------------------------------------------------------------- how bad it is


def _number(evidence: dict[str, Any], key: str) -> float | None:
    value = evidence.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _loss(evidence: dict[str, Any]) -> float | None:
    margin = _number(evidence, "margin_percent")
    return -margin if margin is not None and margin < 0 else None


def _grievances(evidence: dict[str, Any]) -> float | None:
    found = [evidence.get(key) for key in ("complaint_ids", "dispute_ids")]
    lists = [ids for ids in found if isinstance(ids, list)]
    return float(sum(len(ids) for ids in lists)) if lists else None


# What grows as the ground of a trigger gets worse, read from its evidence: a customer in a
# cool-down is flagged again when it reached a multiple of what their ended case recorded.
SEVERITY: dict[Trigger, Callable[[dict[str, Any]], float | None]] = {
    Trigger.PAYMENT_ARREARS: lambda e: _number(e, "overdue_amount_cents"),
    Trigger.RELATIONSHIP_BREAKDOWN: _grievances,
    Trigger.UNREACHABLE: lambda e: _number(e, "bounced_emails"),
    Trigger.INACTIVITY: lambda e: _number(e, "inactive_days"),
    Trigger.UNPROFITABLE: _loss,
    Trigger.RESOURCE_DRAIN: lambda e: _number(e, "support_hours"),
}


def severity(trigger: Trigger, evidence: dict[str, Any]) -> float | None:
    """How bad the ground of `trigger` is by this evidence; None when it does not say."""
    measure = SEVERITY.get(trigger)
    return None if measure is None else measure(evidence)
