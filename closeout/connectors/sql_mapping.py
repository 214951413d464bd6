"""The mapping of a CRM database Closeout did not design: which table holds the customers, which
column their Closeout id, and for every other table holding their records its data category,
the column pointing at the customer, and whether its rows are deleted or anonymised.

A TOML file (examples/connectors/odoo.toml is a whole one):

    [customer]
    table = "res_partner"        # one row per customer
    id_column = "ref"            # holds the customer id Closeout knows them by
    key = "id"                   # what the other tables point at (default: id_column)
    on_delete = "anonymise"      # when their last category goes: "delete" or "anonymise"
    anonymise = ["ref", "email"] # anonymise: columns set to NULL (id_column among them) ...
    set = { name = "Deleted customer", active = false }  # ... and columns set to a value

    [[table]]
    name = "crm_lead"
    category = "interaction_history"   # a DataCategory
    customer_column = "partner_id"     # holds the customer's key
    where = { type = "opportunity" }   # optional: only rows with these values are theirs
    on_delete = "delete"               # or "anonymise", with anonymise/set as above
    minimise = true                    # removed when the case archives (default false)
    restore = true                     # brought back on reactivation (default: minimise)

With a [source] section the database is also the customer source (closeout/connectors/
sql_source.py): who the customer is, read from the customer table's columns, and their account
history from mapped tables:

    [source]
    name = "name"                      # columns of the customer table
    email = "email"
    phone = "phone"                    # optional
    locale = "lang"                    # optional (default_locale otherwise)
    created_at = "create_date"
    owner = "user_id"                  # the account manager: this column's value ...
    owner_lookup = { table = "res_users", key = "id", value = "login" }  # ... or another table's
    default_owner = "am.unassigned"    # when the column is empty, or no owner column (required)
    value_tier = "x_value_tier"        # optional: "standard", "high" or "key"
    default_value_tier = "standard"
    status = "x_closeout_status"       # where Closeout writes the customer's status (required)
    bounces = "message_bounce"         # optional: counted up when a notice bounces
    orders = { table = "sale_order", at = "date_order", amount = "amount_total" }
    interactions = { table = "mail_message", at = "date" }

    [source.invoices]
    table = "account_move"
    where = { move_type = "out_invoice" }  # only these rows too, with the [[table]]'s where
    number = "name"
    at = "invoice_date"
    due_at = "invoice_date_due"
    amount = "amount_total"
    open_amount = "amount_residual"        # what is still owed (or paid_at = a column)

A history's table is one of the [[table]]s (their customer column and `where` find the rows);
amounts are in the currency's units (`amount_unit = "cents"` when the column holds cents).

The customer table may be mapped again as a [[table]] for rows pointing at the customer's row
(a company's people, `parent_id`). Tables are restored in the order listed and deleted in the
reverse order, the customer's own row last: list a table before those pointing at it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from closeout.domain import DataCategory, ValueTier

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
Scalar = str | int | float | bool


class DeleteRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    on_delete: Literal["delete", "anonymise"] = "delete"
    anonymise: tuple[str, ...] = ()
    set: dict[str, Scalar] = Field(default_factory=dict)

    def _rule_checked(self, what: str) -> None:
        for column in (*self.anonymise, *self.set):
            if not _identifier(column):
                raise ValueError(f"{what}: {column!r} is not a column name")
        if self.on_delete == "anonymise" and not (self.anonymise or self.set):
            raise ValueError(f"{what}: anonymise needs the columns it clears (anonymise or set)")
        if self.on_delete == "delete" and (self.anonymise or self.set):
            raise ValueError(f"{what}: anonymise/set apply only with on_delete = 'anonymise'")

    @property
    def cleared(self) -> dict[str, Scalar | None]:
        """Each anonymised column with the value it is left with."""
        return {**dict.fromkeys(self.anonymise), **self.set}


def _identifier(name: str) -> bool:
    return re.fullmatch(IDENTIFIER, name) is not None


class CustomerTable(DeleteRule):
    table: str = Field(pattern=IDENTIFIER)
    id_column: str = Field(pattern=IDENTIFIER)
    key: str | None = Field(default=None, pattern=IDENTIFIER)

    @property
    def key_column(self) -> str:
        return self.key or self.id_column

    @model_validator(mode="after")
    def _checked(self) -> CustomerTable:
        self._rule_checked(f"customer table {self.table}")
        if self.on_delete == "anonymise" and self.id_column not in self.anonymise:
            raise ValueError(
                f"customer table {self.table}: anonymising must clear {self.id_column} too "
                "(in anonymise: set to NULL), or the row still names the customer"
            )
        return self


class MappedTable(DeleteRule):
    name: str = Field(pattern=IDENTIFIER)
    category: DataCategory
    customer_column: str = Field(pattern=IDENTIFIER)
    where: dict[str, Scalar] = Field(default_factory=dict)
    minimise: bool = False
    restore: bool | None = None

    @property
    def restored(self) -> bool:
        return self.minimise if self.restore is None else self.restore

    @model_validator(mode="after")
    def _checked(self) -> MappedTable:
        self._rule_checked(f"table {self.name}")
        for column in self.where:
            if not _identifier(column):
                raise ValueError(f"table {self.name}: {column!r} is not a column name")
        if self.customer_column in self.cleared or set(self.where) & set(self.cleared):
            raise ValueError(
                f"table {self.name}: the columns that find the customer's rows cannot be "
                "anonymised (the rows would no longer be found to count or restore)"
            )
        return self


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Column = Annotated[str, Field(pattern=IDENTIFIER)]


class Lookup(_Strict):
    """A value found in another table: `value` of its row whose `key` is the column's value."""

    table: Column
    key: Column
    value: Column


class History(_Strict):
    """A mapped table's rows as part of the account history: when each happened, its amount."""

    table: Column
    at: Column
    amount: Column | None = None
    amount_unit: Literal["units", "cents"] = "units"
    # Only rows with these values too (an account_move's move_type, say).
    where: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _where_checked(self) -> History:
        for column in self.where:
            if not _identifier(column):
                raise ValueError(f"[source] {self.table}: {column!r} is not a column name")
        return self

    def columns(self) -> tuple[str, ...]:
        return (*(c for c in (self.at, self.amount) if c), *self.where)


class Invoices(History):
    number: Column
    due_at: Column
    paid_at: Column | None = None  # when it was paid (empty: unpaid) ...
    open_amount: Column | None = None  # ... or what is still owed (zero: paid)

    def columns(self) -> tuple[str, ...]:
        return (*super().columns(), self.number, self.due_at, *(
            c for c in (self.paid_at, self.open_amount) if c))  # fmt: skip

    @model_validator(mode="after")
    def _checked(self) -> Invoices:
        if self.amount is None or (self.paid_at is None) == (self.open_amount is None):
            raise ValueError(
                f"invoices in {self.table}: give amount, and one of paid_at or open_amount"
            )
        return self


class Source(_Strict):
    """The customer table's columns that say who the customer is (see the module's text)."""

    name: Column
    email: Column
    phone: Column | None = None
    locale: Column | None = None
    default_locale: str = Field(default="en", pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
    created_at: Column
    owner: Column | None = None
    owner_lookup: Lookup | None = None
    # Who decides for a customer with no owner: required, or their tasks would go to nobody.
    default_owner: str = Field(min_length=1, max_length=320)
    value_tier: Column | None = None
    default_value_tier: ValueTier = ValueTier.STANDARD
    country: Column | None = None
    # Where Closeout writes the customer's status, and reads it back: a restricted customer
    # gets no mail and no export (required: without it they would read as active).
    status: Column
    bounces: Column | None = None
    orders: History | None = None
    invoices: Invoices | None = None
    interactions: History | None = None

    @model_validator(mode="after")
    def _checked(self) -> Source:
        if self.owner_lookup is not None and self.owner is None:
            raise ValueError("[source]: owner_lookup needs the owner column it looks up")
        return self

    def own_columns(self) -> tuple[str, ...]:
        """The customer table's columns it reads or writes."""
        named = (self.name, self.email, self.phone, self.locale, self.created_at, self.owner,
                 self.value_tier, self.country, self.status, self.bounces)  # fmt: skip
        return tuple(c for c in named if c)

    def histories(self) -> tuple[History, ...]:
        return tuple(h for h in (self.orders, self.invoices, self.interactions) if h)


class SqlMapping(_Strict):
    customer: CustomerTable
    table: tuple[MappedTable, ...] = ()
    source: Source | None = None

    @model_validator(mode="after")
    def _checked(self) -> SqlMapping:
        names = [t.name for t in self.table]
        kept = [t.name for t in self.table if t.on_delete == "anonymise"]
        if self.customer.on_delete == "delete" and kept:
            raise ValueError(
                f"tables {kept} keep rows pointing at the customer's row: anonymise that row "
                "([customer] on_delete = 'anonymise') instead of deleting it"
            )
        if len(set(names)) != len(names):
            raise ValueError("each [[table]] is mapped once")
        if "customer" in names:
            raise ValueError(
                "'customer' names the customer's own row: map that table as [customer]"
            )
        for history in self.source.histories() if self.source else ():
            if history.table not in names:
                raise ValueError(
                    f"[source]: {history.table} is not a mapped [[table]] (its customer column "
                    "finds the customer's rows)"
                )
        return self

    def mapped(self, name: str) -> MappedTable:
        return next(t for t in self.table if t.name == name)

    def table_names(self) -> list[str]:
        """Every table the mapping reads, once."""
        names = [self.customer.table, *(t.name for t in self.table)]
        if self.source is not None and self.source.owner_lookup is not None:
            names.append(self.source.owner_lookup.table)
        return list(dict.fromkeys(names))

    def tables_of(self, category: DataCategory) -> tuple[str, ...]:
        return tuple(t.name for t in self.table if t.category is category)


def load_mapping(path: Path) -> SqlMapping:
    """The mapping in a TOML file; ValueError naming the file and what is wrong."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read the mapping {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    try:
        return SqlMapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"{path}: {problems}") from exc
