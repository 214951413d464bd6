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

The customer table may be mapped again as a [[table]] for rows pointing at the customer's row
(a company's people, `parent_id`). Tables are restored in the order listed and deleted in the
reverse order, the customer's own row last: list a table before those pointing at it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from closeout.domain import DataCategory

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


class SqlMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    customer: CustomerTable
    table: tuple[MappedTable, ...] = ()

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
        return self

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
