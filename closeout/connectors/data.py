"""Data systems: the systems that hold a customer's records (the CRM, an ERP, a support desk),
each asked to export, minimise, delete by category, restore and count what it holds.

A system names its own tables; each table holds one data category (closeout.domain's
`DataCategory`) and the customer's own row goes with the last category. A case fans out over
every configured system: the reference CRM always, others from `CLOSEOUT_CONNECTORS`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from closeout.connectors.errors import UnknownCustomer
from closeout.crm.models import CATEGORY_TABLES, MINIMISED_TABLES, RESTORED_TABLES
from closeout.crm.port import CrmPort, CustomerExport, CustomerNotFound
from closeout.domain import DataCategory

# The customer's own row, in every system's export: it goes with their last category.
CUSTOMER_ROW = "customer"
ALL_CATEGORIES = frozenset(DataCategory)
CRM_DATA = "crm"


class DataSystem(Protocol):
    """A system holding customers' records. Every method is idempotent; each raises
    `closeout.connectors.errors.ConnectorError` when it cannot do what was asked
    (`UnknownCustomer` for a customer it does not hold)."""

    name: str

    def check(self) -> list[str]:
        """Reach the system and say what it cannot do of what a case needs (nothing: all of
        it). Raises when it cannot be reached or refuses."""
        ...

    def tables_of(self, category: DataCategory) -> tuple[str, ...]:
        """The system's tables holding that category of the customer's data."""
        ...

    def export(self, customer_id: str) -> CustomerExport:
        """Every record of the customer, table by table (`customer`: their own row)."""
        ...

    def minimise(self, customer_id: str) -> dict[str, int]:
        """Remove what retention does not need (the case's archive step); rows per table."""
        ...

    def delete(self, customer_id: str, categories: Collection[DataCategory]) -> dict[str, int]:
        """Delete (or anonymise, by the system's rule) those categories of the customer's
        records; with every category, the customer's own row too. Rows per table."""
        ...

    def restore(self, export: CustomerExport) -> dict[str, int]:
        """Bring back the restorable records of an export (a returning customer); raises
        `CustomerSuppressed` for a customer deleted for good. Rows per table."""
        ...

    def remaining(
        self, customer_id: str, categories: Collection[DataCategory] | None = None
    ) -> dict[str, int]:
        """What the system still holds of the customer (of those categories, when given):
        zero everywhere once deleted."""
        ...


def all_categories(categories: Collection[DataCategory]) -> bool:
    return set(categories) >= ALL_CATEGORIES


class CrmData:
    """The reference CRM's tables in Closeout's own database (closeout/crm/models.py)."""

    name = CRM_DATA

    def __init__(self, crm: CrmPort) -> None:
        self.crm = crm

    def check(self) -> list[str]:
        return []  # Closeout's own database: /healthz checks it

    def tables_of(self, category: DataCategory) -> tuple[str, ...]:
        return CATEGORY_TABLES[category]

    def export(self, customer_id: str) -> CustomerExport:
        try:
            return self.crm.export_customer(customer_id)
        except CustomerNotFound as exc:
            raise UnknownCustomer(self.name, customer_id) from exc

    def minimise(self, customer_id: str) -> dict[str, int]:
        try:
            return self.crm.minimise(customer_id, MINIMISED_TABLES)
        except CustomerNotFound as exc:
            raise UnknownCustomer(self.name, customer_id) from exc

    def delete(self, customer_id: str, categories: Collection[DataCategory]) -> dict[str, int]:
        if all_categories(categories):
            return self.crm.delete_customer(customer_id)
        tables = tuple(t for c in categories for t in CATEGORY_TABLES[c])
        try:
            return self.crm.minimise(customer_id, tables) if tables else {}
        except CustomerNotFound:
            return {}  # the customer row is gone already: nothing of theirs is left here

    def restore(self, export: CustomerExport) -> dict[str, int]:
        return self.crm.restore(export, RESTORED_TABLES)

    def remaining(
        self, customer_id: str, categories: Collection[DataCategory] | None = None
    ) -> dict[str, int]:
        counts = self.crm.remaining_records(customer_id)
        if categories is None:
            return counts
        tables = {t for c in categories for t in CATEGORY_TABLES[c]}
        if all_categories(categories):
            tables.add(CUSTOMER_ROW)
        return {t: n for t, n in counts.items() if t in tables}
