"""A company's own CRM database as the customer source, by the [source] section of its mapping
(closeout/connectors/sql_mapping.py): who the customer is, their account history, and the
customer's status written back where the company's people see it.

It reads through the same engine and reflected tables as the database's data system
(closeout/connectors/sql_data.py), and refuses what that refuses: two rows under one customer
id, a customer the suppression ledger names (unknown here). Dates without a zone are taken as
UTC; a date without a time as its midnight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    String,
    Table,
    and_,
    case,
    cast,
    false,
    func,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from closeout.connectors.sql_data import SqlMappedData
from closeout.connectors.sql_mapping import History, Source
from closeout.crm.port import (
    AccountHistory,
    CustomerDetails,
    CustomerProfile,
    InvoiceLine,
    MailContact,
)
from closeout.domain import CustomerStatus, ValueTier

RECENT = 5


def to_moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    raise TypeError(f"not a date: {type(value).__name__}")


def to_cents(value: Any, history: History) -> int:
    if value is None:
        return 0
    amount = Decimal(str(value))
    return int(amount if history.amount_unit == "cents" else (amount * 100).to_integral_value())


def _blank(column: Any) -> ColumnElement[bool]:
    """Nothing written there: NULL or empty (read as the default, so found as it)."""
    return or_(column.is_(None), cast(column, String) == "")


class SqlCustomerSource:
    """The customers of a mapped CRM database (its mapping has a [source] section)."""

    def __init__(self, system: SqlMappedData) -> None:
        if system.mapping.source is None:
            raise ValueError(f"{system.name}: the mapping has no [source] section")
        self.system = system
        self.name = system.name
        self.source: Source = system.mapping.source
        self.customer_table = system.mapping.customer

    # ------------------------------------------------------------------ columns

    def _own(self, tables: dict[str, Table]) -> Table:
        return tables[self.customer_table.table]

    def _columns(self, tables: dict[str, Table]) -> tuple[list[Any], Table | Any]:
        """The details' columns, labelled, and the table they are selected from (with the
        owner's look-up joined when there is one)."""
        own, src = self._own(tables), self.source

        def column(name: str | None, label: str) -> Any:
            return (own.c[name] if name else null()).label(label)

        owner: Any = own.c[src.owner] if src.owner else None
        origin: Any = own
        if src.owner_lookup is not None and src.owner is not None:
            lookup = tables[src.owner_lookup.table]
            origin = own.outerjoin(lookup, lookup.c[src.owner_lookup.key] == own.c[src.owner])
            owner = lookup.c[src.owner_lookup.value]
        columns = [
            own.c[self.customer_table.id_column].label("id"),
            own.c[src.name].label("name"),
            own.c[src.email].label("email"),
            column(src.phone, "phone"),
            (owner.label("owner") if owner is not None else column(None, "owner")),
            column(src.value_tier, "value_tier"),
            column(src.locale, "locale"),
            column(src.status, "status"),
            own.c[src.created_at].label("created_at"),
            column(src.country, "country"),
        ]
        return columns, origin

    def _select(self, tables: dict[str, Table]) -> Any:
        columns, origin = self._columns(tables)
        own = self._own(tables)
        return (
            select(*columns)
            .select_from(origin)
            .where(own.c[self.customer_table.id_column].is_not(None))
        )

    def _value(self, row: Row[Any], field: str) -> str:
        src, found = self.source, getattr(row, field)
        if found not in (None, ""):
            return str(found)
        if field == "owner":
            return src.default_owner
        if field == "value_tier":
            return str(src.default_value_tier)
        if field == "locale":
            return src.default_locale
        return str(CustomerStatus.ACTIVE)  # status: nothing written there yet

    def _details(self, row: Row[Any]) -> CustomerDetails:
        tier = self._value(row, "value_tier")
        return CustomerDetails(
            id=str(row.id),
            name=row.name or "",
            email=row.email or "",
            phone=row.phone,
            owner=self._value(row, "owner"),
            value_tier=tier if tier in set(ValueTier) else str(self.source.default_value_tier),
            locale=self._value(row, "locale"),
            status=self._value(row, "status"),
            created_at=to_moment(row.created_at) or datetime.fromtimestamp(0, UTC),
            closed_at=None,
        )

    def _one(self, connection: Connection, tables: dict[str, Table], customer_id: str) -> Any:
        """The customer's row, or None (unknown, or deleted for good); two rows refused."""
        if self.system.ledger.is_suppressed(customer_id):
            return None
        if self.system.key(connection, tables, customer_id) is None:
            return None
        own = self._own(tables)
        return connection.execute(
            self._select(tables).where(own.c[self.customer_table.id_column] == customer_id)
        ).first()

    # ------------------------------------------------------------------ the port

    def customer(self, customer_id: str) -> CustomerDetails | None:
        with self.system.transaction() as (connection, tables):
            row = self._one(connection, tables, customer_id)
            return None if row is None else self._details(row)

    def get_profile(self, customer_id: str) -> CustomerProfile | None:
        with self.system.transaction() as (connection, tables):
            row = self._one(connection, tables, customer_id)
            if row is None:
                return None
            d = self._details(row)
            return CustomerProfile(d.id, d.owner, d.value_tier, d.locale, d.status, row.country)

    def search(
        self, q: str | None, status: str | None, limit: int, offset: int, owner: str | None = None
    ) -> tuple[list[CustomerDetails], int]:
        with self.system.transaction() as (connection, tables):
            query = self._select(tables)
            columns = {c.name: c for c in self._columns(tables)[0]}
            filters: list[ColumnElement[bool]] = []
            if owner is not None:
                filters.append(self._owned_by(columns["owner"].element, owner))
            if q:
                like = f"%{q.lower()}%"
                filters.append(or_(*(
                    func.lower(columns[c].element).like(like) for c in ("name", "email", "id")
                )))  # fmt: skip
            if status:
                filters.append(self._in_status(columns["status"].element, status))
            query = query.where(*filters)
            total = connection.execute(select(func.count()).select_from(query.subquery()))
            rows = connection.execute(
                query.order_by(columns["id"].element).limit(limit).offset(offset)
            ).all()
            count = int(total.scalar_one())
        suppressed = self.system.ledger.refs()
        found = [r for r in rows if self.system.ledger.refs_of(str(r.id)).isdisjoint(suppressed)]
        return [self._details(r) for r in found], count

    def _owned_by(self, column: Any, owner: str) -> ColumnElement[bool]:
        if self.source.owner is None:  # every customer is the default owner's
            return true() if owner == self.source.default_owner else false()
        mine: ColumnElement[bool] = column == owner
        if owner == self.source.default_owner:
            return or_(mine, _blank(column))
        return mine

    def _in_status(self, column: Any, status: str) -> ColumnElement[bool]:
        if status == CustomerStatus.ACTIVE:
            return or_(column == status, _blank(column))
        same: ColumnElement[bool] = column == status
        return same

    def names(self, customer_ids: Iterable[str]) -> dict[str, str]:
        wanted = set(customer_ids)
        suppressed = self.system.ledger.refs()
        wanted = {c for c in wanted if self.system.ledger.refs_of(c).isdisjoint(suppressed)}
        if not wanted:
            return {}
        with self.system.transaction() as (connection, tables):
            own = self._own(tables)
            id_column = own.c[self.customer_table.id_column]
            rows = connection.execute(
                select(id_column, own.c[self.source.name]).where(id_column.in_(wanted))
            ).all()
        return {str(r[0]): r[1] or "" for r in rows}

    def primary_contact(self, customer_id: str) -> MailContact | None:
        details = self.customer(customer_id)
        if details is None or not details.email:
            return None
        return MailContact(details.email, details.name, details.locale)

    def customers_with_email(self, email: str) -> list[str]:
        wanted = email.strip().lower()
        with self.system.transaction() as (connection, tables):
            own = self._own(tables)
            id_column = own.c[self.customer_table.id_column]
            found = connection.execute(
                select(id_column).where(
                    func.lower(own.c[self.source.email]) == wanted, id_column.is_not(None)
                )
            ).scalars()
            ids = sorted({str(i) for i in found})
        return [c for c in ids if not self.system.ledger.is_suppressed(c)]

    def account_history(self, customer_id: str) -> AccountHistory | None:
        with self.system.transaction() as (connection, tables):
            row = self._one(connection, tables, customer_id)
            if row is None:
                return None
            key = self.system.key(connection, tables, customer_id)
            d = self._details(row)
            orders = self._aggregate(connection, tables, self.source.orders, key)
            talks = self._aggregate(connection, tables, self.source.interactions, key)
            invoices, unpaid = self._invoices(connection, tables, key)
            return AccountHistory(
                name=d.name,
                owner=d.owner,
                value_tier=d.value_tier,
                status=d.status,
                customer_since=d.created_at,
                orders=orders[0],
                order_value_cents=orders[1],
                last_order_at=orders[2],
                unpaid_cents=unpaid,
                recent_invoices=invoices,
                complaints=[],
                interactions=talks[0],
                last_interaction_at=talks[2],
                support_hours=0.0,
            )

    def _rows_of(self, tables: dict[str, Table], history: History, key: Any) -> Any:
        table = tables[history.table]
        theirs = SqlMappedData.theirs(table, self.system.mapping.mapped(history.table), key)
        return table, and_(theirs, *(table.c[c] == v for c, v in history.where.items()))

    def _aggregate(
        self, connection: Connection, tables: dict[str, Table], history: History | None, key: Any
    ) -> tuple[int, int, datetime | None]:
        """How many rows, their amounts' sum in cents, the latest."""
        if history is None:
            return 0, 0, None
        table, theirs = self._rows_of(tables, history, key)
        amount = func.sum(table.c[history.amount]) if history.amount else func.count()
        count, total, last = connection.execute(
            select(func.count(), amount, func.max(table.c[history.at])).where(theirs)
        ).one()
        return int(count), to_cents(total, history) if history.amount else 0, to_moment(last)

    def _invoices(
        self, connection: Connection, tables: dict[str, Table], key: Any
    ) -> tuple[list[InvoiceLine], int]:
        """The latest invoices, and what is owed over all of them, in cents."""
        spec = self.source.invoices
        if spec is None or spec.amount is None:
            return [], 0
        table, theirs = self._rows_of(tables, spec, key)
        c = table.c
        if spec.open_amount is not None:
            owed: Any = func.sum(c[spec.open_amount])
        else:
            owed = func.sum(case((c[spec.paid_at].is_(None), c[spec.amount]), else_=0))
        unpaid = connection.execute(select(owed).where(theirs)).scalar_one()
        settled = c[spec.paid_at] if spec.paid_at else c[spec.open_amount]
        rows = connection.execute(
            select(
                c[spec.number].label("number"),
                c[spec.at].label("at"),
                c[spec.due_at].label("due_at"),
                c[spec.amount].label("amount"),
                settled.label("settled"),
            )
            .where(theirs)
            .order_by(c[spec.at].desc())
            .limit(RECENT)
        ).all()
        lines = [
            InvoiceLine(
                number=str(r.number or ""),
                issued_at=to_moment(r.at) or datetime.fromtimestamp(0, UTC),
                due_at=to_moment(r.due_at) or to_moment(r.at) or datetime.fromtimestamp(0, UTC),
                amount_cents=to_cents(r.amount, spec),
                paid_at=to_moment(r.settled) if spec.paid_at else None,
                paid=None if spec.paid_at else to_cents(r.settled, spec) <= 0,
            )
            for r in rows
        ]
        return lines, to_cents(unpaid, spec)

    def _update(
        self,
        customer_id: str,
        values: Callable[[Table], dict[str, Any]],
        where: Callable[[Table], list[ColumnElement[bool]]] = lambda _own: [],
    ) -> None:
        """One change to the customer's own row (of those further conditions): none to a
        customer it does not hold or deleted for good; two rows under the id are refused."""
        with self.system.transaction() as (connection, tables):
            if self._one(connection, tables, customer_id) is None:
                return
            own = self._own(tables)
            mine = own.c[self.customer_table.id_column] == customer_id
            connection.execute(update(own).where(mine, *where(own)).values(values(own)))

    def set_status(self, customer_id: str, status: str) -> None:
        """Where the company's people see it, and where a restriction is read back."""
        column = self.source.status
        self._update(customer_id, lambda _own: {column: str(status)})

    def record_bounce(self, customer_id: str, email: str) -> None:
        column, address = self.source.bounces, email.strip().lower()
        if column is not None:
            self._update(
                customer_id,
                lambda own: {column: func.coalesce(own.c[column], 0) + 1},
                lambda own: [func.lower(own.c[self.source.email]) == address],
            )

    def customer_ids(self, batch: int = 10_000) -> Iterator[str]:
        last: str | None = None
        while True:
            with self.system.transaction() as (connection, tables):
                id_column = self._own(tables).c[self.customer_table.id_column]
                query = select(id_column).where(id_column.is_not(None))
                if last is not None:
                    query = query.where(id_column > last)
                ids = [str(i) for i in connection.execute(
                    query.order_by(id_column).limit(batch)).scalars()]  # fmt: skip
            yield from ids
            if len(ids) < batch:
                return
            last = ids[-1]

    def check(self) -> list[str]:
        """What the database lacks of what the mapping names (its data system's check)."""
        return self.system.check()
