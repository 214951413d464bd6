"""A case's record steps over every data system at once (closeout/connectors/data.py).

One export holds every system's tables: the reference CRM's under their own names (as the
archive bundles have always had them), another system's as "<system>.<table>". Counts are
named the same way. A customer that a system does not hold has nothing there to back up,
minimise or delete; one that no system holds is an error, since the case found them somewhere.
The first system is the customer source's own (the reference CRM, or the company's CRM).
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


def _in_each(
    systems: Sequence[DataSystem], step: Callable[[DataSystem], T]
) -> list[tuple[DataSystem, T]]:
    """The step's answer from each system holding the customer; UnknownCustomer (the first
    system's) when none does."""
    answers: list[tuple[DataSystem, T]] = []
    unknown: UnknownCustomer | None = None
    for system in systems:
        try:
            answers.append((system, step(system)))
        except UnknownCustomer as exc:
            unknown = unknown or exc
    if not answers and unknown is not None:
        raise unknown
    return answers


def export_everywhere(systems: Sequence[DataSystem], customer_id: str) -> CustomerExport:
    """Every record of the customer in every system, in one export."""
    tables: dict[str, list[dict[str, object]]] = {}
    for system, found in _in_each(systems, lambda s: s.export(customer_id)):
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
    for system, found in _in_each(systems, lambda s: s.minimise(customer_id)):
        removed |= _named(system, found)
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
        if own.tables or (i == 0 and not export.tables):  # the first says why none is there
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
