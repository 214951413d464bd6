"""A data system over an existing CRM database (any SQLAlchemy URL), read and changed through a
declarative mapping (closeout/connectors/sql_mapping.py).

The tables are reflected from the database, never created or altered. Each operation is one
transaction: a deletion either takes every mapped table's rows or none. Values leave in an
export as JSON (dates as ISO text, decimals as text) and come back as the column's own type.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    and_,
    delete,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from closeout.connectors.data import CUSTOMER_ROW, all_categories
from closeout.connectors.errors import (
    AmbiguousCustomer,
    ConnectorError,
    ConnectorTimeout,
    ConnectorUnavailable,
    CredentialRefused,
    UnknownCustomer,
)
from closeout.connectors.sql_mapping import DeleteRule, MappedTable, SqlMapping
from closeout.connectors.sql_rows import (
    REFUSED,
    TIMEOUT,
    from_json,
    kind_of,
    not_cleared,
    to_json,
)
from closeout.crm.port import CustomerExport, CustomerSuppressed
from closeout.domain import DataCategory
from closeout.suppression.ledger import SuppressionLedger


class SqlMappedData:
    """A CRM database of the company's own, by its mapping."""

    def __init__(
        self,
        name: str,
        engine: Engine,
        mapping: SqlMapping,
        ledger: SuppressionLedger,
    ) -> None:
        self.name = name
        self.engine = engine
        self.mapping = mapping
        self.ledger = ledger
        self._tables: dict[str, Table] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the database

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """The database's failures as the connectors' typed errors. The driver's error is not
        chained on: its message and statement can quote a row's values (a customer's words),
        and a chained cause travels into the case's history and the logs."""
        try:
            yield
        except ConnectorError:
            raise
        except NoSuchTableError as exc:
            raise ConnectorUnavailable(self.name, f"no table {exc} in the database") from None
        except DBAPIError as exc:
            text = str(exc.orig).lower()
            if REFUSED.search(text):
                raise CredentialRefused(self.name, "the database refused the credential") from None
            if any(s in text for s in TIMEOUT):
                raise ConnectorTimeout(self.name, "the database did not answer in time") from None
            raise ConnectorUnavailable(self.name, f"database error: {kind_of(exc)}") from None
        except SQLAlchemyError as exc:
            raise ConnectorUnavailable(self.name, f"database error: {type(exc).__name__}") from None

    @contextmanager
    def transaction(self, whole: bool = True) -> Iterator[tuple[Connection, dict[str, Table]]]:
        """A transaction on the mapped tables; refused (whole) when the database lacks any of
        what the mapping names."""
        with self._failures():
            tables = self._reflected()
            missing = self._missing(tables) if whole else []
            if missing:
                raise ConnectorUnavailable(self.name, f"the database lacks {', '.join(missing)}")
            with self.engine.begin() as connection:
                yield connection, tables

    def _reflected(self) -> dict[str, Table]:
        with self._lock:
            if self._tables is None:
                names = self.mapping.table_names()
                inspector = inspect(self.engine)
                absent = [n for n in dict.fromkeys(names) if not inspector.has_table(n)]
                if absent:
                    raise ConnectorUnavailable(
                        self.name, f"the database lacks the tables {', '.join(absent)}"
                    )
                metadata = MetaData()
                metadata.reflect(self.engine, only=names)
                self._tables = {n: metadata.tables[n] for n in names}
            return self._tables

    def _missing(self, tables: dict[str, Table]) -> list[str]:
        """What the mapping names that the database lacks."""
        customer = self.mapping.customer
        wanted = [(customer.table, c) for c in (customer.id_column, customer.key_column)]
        wanted += [(customer.table, c) for c in customer.cleared]
        for t in self.mapping.table:
            wanted += [(t.name, c) for c in (t.customer_column, *t.where, *t.cleared)]
        if (source := self.mapping.source) is not None:
            wanted += [(customer.table, c) for c in source.own_columns()]
            if (lookup := source.owner_lookup) is not None:
                wanted += [(lookup.table, lookup.key), (lookup.table, lookup.value)]
            wanted += [(h.table, c) for h in source.histories() for c in h.columns()]
        missing = [f"{t}.{c}" for t, c in dict.fromkeys(wanted) if c not in tables[t].c]
        missing += [
            f"{name} has no primary key (its rows cannot be restored)"
            for name, table in tables.items()
            if not table.primary_key.columns
        ]
        return missing

    def check(self) -> list[str]:
        with self.transaction(whole=False) as (connection, tables):
            connection.execute(select(1))
            return self._missing(tables)

    # ------------------------------------------------------------------ rows

    def key(self, connection: Connection, tables: dict[str, Table], customer_id: str) -> Any:
        """The customer's key, or None when the database holds no row with their id. Two rows
        with the id are refused, not guessed between."""
        customer = self.mapping.customer
        table = tables[customer.table]
        keys = (
            connection.execute(
                select(table.c[customer.key_column])
                .where(table.c[customer.id_column] == customer_id)
                .limit(2)
            )
            .scalars()
            .all()
        )
        if len(keys) > 1:
            raise AmbiguousCustomer(self.name, customer_id)
        return keys[0] if keys else None

    def _known_key(self, connection: Connection, tables: dict[str, Table], customer_id: str) -> Any:
        key = (
            self.key(connection, tables, customer_id) if not self._suppressed(customer_id) else None
        )
        if key is None:
            raise UnknownCustomer(self.name, customer_id)
        return key

    def _suppressed(self, customer_id: str) -> bool:
        return self.ledger.is_suppressed(customer_id)

    @staticmethod
    def theirs(table: Table, mapped: MappedTable, key: Any) -> ColumnElement[bool]:
        return and_(
            table.c[mapped.customer_column] == key,
            *(table.c[c] == v for c, v in mapped.where.items()),
        )

    def tables_of(self, category: DataCategory) -> tuple[str, ...]:
        return self.mapping.tables_of(category)

    def export(self, customer_id: str) -> CustomerExport:
        customer = self.mapping.customer
        with self.transaction() as (connection, tables):
            key = self._known_key(connection, tables, customer_id)
            own = tables[customer.table]
            rows: dict[str, list[dict[str, Any]]] = {
                CUSTOMER_ROW: self._rows(connection, own, own.c[customer.key_column] == key)
            }
            for mapped in self.mapping.table:
                table = tables[mapped.name]
                rows[mapped.name] = self._rows(connection, table, self.theirs(table, mapped, key))
            return CustomerExport(customer_id, rows)

    @staticmethod
    def _rows(
        connection: Connection, table: Table, where: ColumnElement[bool]
    ) -> list[dict[str, Any]]:
        order = list(table.primary_key.columns)
        found = connection.execute(select(table).where(where).order_by(*order))
        return [{k: to_json(v) for k, v in row._mapping.items()} for row in found]

    def _remove(
        self, connection: Connection, table: Table, rule: DeleteRule, where: ColumnElement[bool]
    ) -> int:
        if rule.on_delete == "delete":
            return int(connection.execute(delete(table).where(where)).rowcount or 0)
        statement = update(table).where(where, not_cleared(table, rule)).values(rule.cleared)
        return int(connection.execute(statement).rowcount or 0)

    def minimise(self, customer_id: str) -> dict[str, int]:
        with self.transaction() as (connection, tables):
            key = self._known_key(connection, tables, customer_id)
            return {
                m.name: self._remove(
                    connection, tables[m.name], m, self.theirs(tables[m.name], m, key)
                )
                for m in reversed(self.mapping.table)
                if m.minimise
            }

    def delete(self, customer_id: str, categories: Collection[DataCategory]) -> dict[str, int]:
        wanted = set(categories)
        customer = self.mapping.customer
        with self.transaction() as (connection, tables):
            key = self.key(connection, tables, customer_id)
            if key is None:
                return {}  # nothing of theirs here (deleted by an earlier attempt, or never)
            removed = {
                m.name: self._remove(
                    connection, tables[m.name], m, self.theirs(tables[m.name], m, key)
                )
                for m in reversed(self.mapping.table)
                if m.category in wanted
            }
            if all_categories(wanted):  # their own row last: the others find them through it
                left = self._left(connection, tables, key, wanted)
                if left:  # once the row goes, nothing would find these again: none may stay
                    raise ConnectorUnavailable(
                        self.name, f"rows remain after the deletion, kept back: {left}"
                    )
                own = tables[customer.table]
                removed[CUSTOMER_ROW] = self._remove(
                    connection, own, customer, own.c[customer.key_column] == key
                )
            return removed

    def restore(self, export: CustomerExport) -> dict[str, int]:
        """Rows of the restorable tables put back as exported: inserted when gone, their
        anonymised columns given back when kept. The customer's row first, if gone."""
        if self._suppressed(export.customer_id):
            raise CustomerSuppressed(export.customer_id)
        customer = self.mapping.customer
        restored: dict[str, int] = {}
        with self.transaction() as (connection, tables):
            own = tables[customer.table]
            for row in export.tables.get(CUSTOMER_ROW, []):
                self._put_back(connection, own, row, customer.cleared, customer.id_column)
            key = self._known_key(connection, tables, export.customer_id)
            for mapped in self.mapping.table:
                if mapped.restored:
                    table = tables[mapped.name]
                    restored[mapped.name] = sum(
                        self._put_back(
                            connection, table, row, mapped.cleared, mapped.customer_column, key
                        )
                        for row in export.tables.get(mapped.name, [])
                    )
        return restored

    def _put_back(
        self,
        connection: Connection,
        table: Table,
        row: dict[str, Any],
        cleared: dict[str, Any],
        owner: str,
        key: Any = None,
    ) -> int:
        """One exported row back: inserted when gone; when kept, only its anonymised columns
        given back (what changed since the archive stays). A row under the same primary key
        that is not the customer's is refused, never overwritten."""
        try:
            values = {c: from_json(table, c, v) for c, v in row.items() if c in table.c}
        except (ValueError, TypeError, ArithmeticError):
            raise ConnectorUnavailable(
                self.name, f"an exported {table.name} row cannot be read back"
            ) from None
        if key is not None:
            values[owner] = key  # the customer's key now, which the export also held
        where = and_(*(c == values.get(c.name) for c in table.primary_key.columns))
        current = connection.execute(select(table).where(where)).first()
        if current is None:
            connection.execute(insert(table).values(values))
            return 1
        held = current._mapping
        mine = held[owner] == values.get(owner) or (
            owner in cleared and held[owner] == cleared[owner]
        )
        if not mine:
            raise ConnectorUnavailable(
                self.name, f"a {table.name} row to restore has its key taken by another record"
            )
        changed = {c: v for c, v in values.items() if c in (*cleared, owner) and held[c] != v}
        if changed:
            connection.execute(update(table).where(where).values(changed))
        return int(bool(changed))

    def _left(
        self, connection: Connection, tables: dict[str, Table], key: Any, wanted: set[DataCategory]
    ) -> dict[str, int]:
        """What the mapped tables of those categories still hold under the customer's key
        (rows an anonymisation has not reached, for anonymised tables)."""
        found: dict[str, int] = {}
        for mapped in self.mapping.table:
            if mapped.category not in wanted:
                continue
            table = tables[mapped.name]
            where = self.theirs(table, mapped, key)
            if mapped.on_delete == "anonymise":
                where = and_(where, not_cleared(table, mapped))
            found[mapped.name] = self._count(connection, table, where)
        return {t: n for t, n in found.items() if n}

    def remaining(
        self, customer_id: str, categories: Collection[DataCategory] | None = None
    ) -> dict[str, int]:
        wanted = set(DataCategory) if categories is None else set(categories)
        customer = self.mapping.customer
        with self.transaction() as (connection, tables):
            key = self.key(connection, tables, customer_id)
            if key is None:
                return {}
            found = self._left(connection, tables, key, wanted)
            if all_categories(wanted):
                own = tables[customer.table]
                found[CUSTOMER_ROW] = self._count(
                    connection, own, own.c[customer.id_column] == customer_id
                )
        return {t: n for t, n in found.items() if n}

    @staticmethod
    def _count(connection: Connection, table: Table, where: ColumnElement[bool]) -> int:
        return int(
            connection.execute(select(func.count()).select_from(table).where(where)).scalar_one()
        )
