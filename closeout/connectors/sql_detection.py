"""Detection's inputs from a company's CRM database (the customer source of its mapping): the
rules whose facts the mapping names, each one set-based query over the company's own tables,
answering with the rows the reference CRM's rules give, so the same evidence, precedence,
dispositions and cool-downs follow (closeout/detection/detector.py).

- no_contact (data quality): an active customer with no e-mail (nor phone, when mapped);
- payment arrears: invoices still owed past their due date ([source.invoices]);
- inactivity: no order and no interaction since the cut-off ([source.orders], interactions).

The rules that need what such a database rarely holds (support hours, complaints, disputes,
competitors) run only on the reference CRM. Customers are those with an id; a customer the
suppression ledger names is left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Table, and_, exists, func, null, or_, select
from sqlalchemy.sql.elements import ColumnElement

from closeout.connectors.sql_data import SqlMappedData
from closeout.connectors.sql_mapping import History
from closeout.connectors.sql_source import SqlCustomerSource, to_cents, to_moment
from closeout.detection.config import DetectionConfig
from closeout.detection.rules import RULES, Rule
from closeout.domain import CustomerStatus, Trigger

_RULE = {r.name: r for r in RULES}
NO_CONTACT, ARREARS, INACTIVITY = (
    "no_contact",
    str(Trigger.PAYMENT_ARREARS),
    str(Trigger.INACTIVITY),
)


def _empty(column: Any) -> ColumnElement[bool]:
    return or_(column.is_(None), func.trim(column) == "")


class SqlDetectionInputs:
    """The rules a mapped customer source can answer, run against its database."""

    def __init__(self, source: SqlCustomerSource) -> None:
        self.source = source
        self.system = source.system
        spec = source.source
        names = [NO_CONTACT]
        if spec.invoices is not None:
            names.append(ARREARS)
        if spec.orders is not None or spec.interactions is not None:
            names.append(INACTIVITY)
        # In the reference rules' order: their precedence holds.
        self.rules: Sequence[Rule] = tuple(r for r in RULES if r.name in names)

    def run(self, rule: Rule, config: DetectionConfig, now: datetime) -> list[Any]:
        with self.system.transaction() as (connection, tables):
            if rule.name == NO_CONTACT:
                rows = self._no_contact(connection, tables)
            elif rule.name == ARREARS:
                rows = self._arrears(connection, tables, config, now)
            else:
                rows = self._inactivity(connection, tables, config, now)
        ledger = self.system.ledger
        suppressed = ledger.refs()
        return [r for r in rows if ledger.refs_of(r.customer_id).isdisjoint(suppressed)]

    # ------------------------------------------------------------------ the customers

    def _own(self, tables: dict[str, Table]) -> Table:
        return tables[self.source.customer_table.table]

    def _customers(self, tables: dict[str, Table]) -> list[ColumnElement[bool]]:
        """Active customers: with an id, and no status other than active written."""
        own, spec = self._own(tables), self.source.source
        where: list[ColumnElement[bool]] = [
            own.c[self.source.customer_table.id_column].is_not(None)
        ]
        if spec.status is not None:
            status = own.c[spec.status]
            where.append(or_(status.is_(None), status == str(CustomerStatus.ACTIVE)))
        return where

    def _theirs(self, tables: dict[str, Table], history: History) -> tuple[Table, Any]:
        """A history's table, and its rows' condition on the customer table's row."""
        table = tables[history.table]
        key = self._own(tables).c[self.source.customer_table.key_column]
        mapped = self.system.mapping.mapped(history.table)
        theirs = SqlMappedData.theirs(table, mapped, key)
        return table, and_(theirs, *(table.c[c] == v for c, v in history.where.items()))

    # ------------------------------------------------------------------ the rules

    def _no_contact(self, connection: Connection, tables: dict[str, Table]) -> list[Any]:
        own, spec = self._own(tables), self.source.source
        where = [*self._customers(tables), _empty(own.c[spec.email])]
        if spec.phone is not None:
            where.append(_empty(own.c[spec.phone]))
        id_column = own.c[self.source.customer_table.id_column]
        found = connection.execute(select(id_column).where(*where)).scalars()
        return [SimpleNamespace(customer_id=str(c)) for c in found]

    def _arrears(
        self,
        connection: Connection,
        tables: dict[str, Table],
        config: DetectionConfig,
        now: datetime,
    ) -> list[Any]:
        spec = self.source.source.invoices
        assert spec is not None and spec.amount is not None
        own = self._own(tables)
        table, theirs = self._theirs(tables, spec)
        c = table.c
        owed = c[spec.open_amount] if spec.open_amount else c[spec.amount]
        unpaid = owed > 0 if spec.paid_at is None else c[spec.paid_at].is_(None)
        cut_off = now - timedelta(days=config.arrears_min_days_overdue)
        due = c[spec.due_at]
        rows = connection.execute(
            select(
                own.c[self.source.customer_table.id_column].label("customer_id"),
                c[spec.number].label("number"),
                owed.label("owed"),
                due.label("due"),
            )
            .select_from(own.join(table, theirs))
            .where(*self._customers(tables), unpaid, due.is_not(None))
        ).all()
        by_customer: dict[str, list[tuple[datetime, Any]]] = defaultdict(list)
        for row in rows:
            moment = to_moment(row.due)
            if moment is not None and moment < cut_off:
                by_customer[str(row.customer_id)].append((moment, row))
        flagged = []
        for customer_id, invoices in sorted(by_customer.items()):
            amount = sum(to_cents(i.owed, spec) for _, i in invoices)
            if len(invoices) < config.arrears_min_invoices and (
                amount < config.arrears_min_amount_cents
            ):
                continue
            flagged.append(
                SimpleNamespace(
                    customer_id=customer_id,
                    invoices=len(invoices),
                    amount=amount,
                    oldest_due=min(due for due, _ in invoices),
                    invoice_ids=",".join(str(i.number) for _, i in invoices),
                )
            )
        return flagged

    def _inactivity(
        self,
        connection: Connection,
        tables: dict[str, Table],
        config: DetectionConfig,
        now: datetime,
    ) -> list[Any]:
        own, spec = self._own(tables), self.source.source
        cut_off = now - timedelta(days=config.inactivity_days)
        columns: list[Any] = [
            own.c[self.source.customer_table.id_column].label("customer_id"),
            own.c[spec.created_at].label("since"),
        ]
        where = [*self._customers(tables), own.c[spec.created_at] < cut_off.replace(tzinfo=None)]
        for label, history in (
            ("last_order", spec.orders),
            ("last_interaction", spec.interactions),
        ):
            if history is None:
                columns.append(null().label(label))
                continue
            table, theirs = self._theirs(tables, history)
            at = table.c[history.at]
            columns.append(select(func.max(at)).where(theirs).scalar_subquery().label(label))
            where.append(~exists().where(theirs, at >= cut_off.replace(tzinfo=None)))
        rows = connection.execute(select(*columns).where(*where)).all()
        return [
            SimpleNamespace(
                customer_id=str(r.customer_id),
                since=to_moment(r.since),
                last_order=to_moment(r.last_order),
                last_interaction=to_moment(r.last_interaction),
            )
            for r in rows
        ]
