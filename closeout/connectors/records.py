"""A case's record steps over every data system at once (closeout/connectors/data.py).

One export holds every system's tables: the reference CRM's under their own names (as the
archive bundles have always had them), another system's as "<system>.<table>". Counts are
named the same way. The first system is the one the customer source reads (the reference CRM,
or the company's CRM database that is the source): a customer it does not hold is an error,
since that is where the case found them. One that another system does not hold has nothing
there to back up, minimise or delete.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TypeVar

from closeout.connectors.data import CRM_DATA, CUSTOMER_ROW, DataSystem
from closeout.connectors.errors import UnknownCustomer
from closeout.crm.port import CustomerExport
from closeout.domain import DataCategory

T = TypeVar("T")


def table_name(system: DataSystem, table: str) -> str:
    """A system's table as an export or a count names it."""
    return table if system.name == CRM_DATA else f"{system.name}.{table}"


def _named(system: DataSystem, counts: dict[str, int]) -> dict[str, int]:
    return {table_name(system, t): n for t, n in counts.items()}


def _held(first: bool, step: Callable[[], T]) -> T | None:
    """The step's answer; None when a system other than the first does not hold the
    customer."""
    try:
        return step()
    except UnknownCustomer:
        if first:
            raise
        return None


def export_everywhere(systems: Sequence[DataSystem], customer_id: str) -> CustomerExport:
    """Every record of the customer in every system, in one export."""
    tables: dict[str, list[dict[str, object]]] = {}
    for i, system in enumerate(systems):
        found = _held(i == 0, lambda s=system: s.export(customer_id))  # type: ignore[misc]
        if found is not None:
            tables |= {table_name(system, t): rows for t, rows in found.tables.items()}
    return CustomerExport(customer_id, tables)


def part_of(export: CustomerExport, system: DataSystem) -> CustomerExport:
    """The system's own tables of a whole export, under their own names."""
    if system.name == CRM_DATA:
        tables = {t: rows for t, rows in export.tables.items() if "." not in t}
    else:
        prefix = f"{system.name}."
        tables = {
            t.removeprefix(prefix): rows
            for t, rows in export.tables.items()
            if t.startswith(prefix)
        }
    return CustomerExport(export.customer_id, tables)


def category_part(
    export: CustomerExport, systems: Sequence[DataSystem], category: DataCategory
) -> CustomerExport:
    """The records of one category in every system, each system's customer row with them."""
    tables: dict[str, list[dict[str, object]]] = {}
    for system in systems:
        own = part_of(export, system)
        if not own.tables:
            continue  # the system did not hold the customer
        for table in (CUSTOMER_ROW, *system.tables_of(category)):
            tables[table_name(system, table)] = own.tables.get(table, [])
    return CustomerExport(export.customer_id, tables)


def minimise_everywhere(systems: Sequence[DataSystem], customer_id: str) -> dict[str, int]:
    """What retention does not need, removed from every system: rows by table."""
    removed: dict[str, int] = {}
    for i, system in enumerate(systems):
        found = _held(i == 0, lambda s=system: s.minimise(customer_id))  # type: ignore[misc]
        removed |= _named(system, found or {})
    return removed


def delete_everywhere(
    systems: Sequence[DataSystem], customer_id: str, categories: Collection[DataCategory]
) -> dict[str, dict[str, int]]:
    """Those categories deleted in every system: each system's rows by table."""
    return {system.name: system.delete(customer_id, categories) for system in systems}


def restore_records(systems: Sequence[DataSystem], export: CustomerExport) -> dict[str, int]:
    """Each system's restorable records of the export put back: rows by table."""
    restored: dict[str, int] = {}
    for i, system in enumerate(systems):
        own = part_of(export, system)
        if own.tables or i == 0:
            restored |= _named(system, system.restore(own))
    return restored


def records_left(
    systems: Sequence[DataSystem],
    customer_id: str,
    categories: Collection[DataCategory] | None = None,
) -> dict[str, int]:
    """What any system still holds of the customer (of those categories): only the tables
    with rows, so empty once every system confirmed that nothing is left. A system that
    cannot answer raises."""
    left: dict[str, int] = {}
    for system in systems:
        left |= {
            t: n for t, n in _named(system, system.remaining(customer_id, categories)).items() if n
        }
    return left


def records_held(systems: Sequence[DataSystem], customer_id: str) -> dict[str, int]:
    """How many records of the customer each system holds, table by table (zeros too)."""
    held: dict[str, int] = {}
    for system in systems:
        held |= _named(system, system.remaining(customer_id))
    return held
