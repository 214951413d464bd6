"""The data systems under the contract, each with the hands of its own administrators: how
to make a customer there, and what minimise and restore touch."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from closeout.connectors.data import DataSystem
from closeout.connectors.sql_data import SqlMappedData
from closeout.connectors.sql_mapping import load_mapping
from closeout.connectors.sql_rows import sql_engine
from closeout.settings import Settings
from closeout.suppression.ledger import SuppressionLedger, ledger_from
from tests.connectors.odoo import MAPPING, add_odoo_customer


@dataclass
class DataUnderTest:
    system: DataSystem
    seed: Callable[[], str]
    ledger: SuppressionLedger
    # The tables minimise empties, and those restore fills again.
    minimised: frozenset[str]
    restored: frozenset[str]


@contextmanager
def sql_system(settings: Settings, url: str) -> Iterator[DataUnderTest]:
    ledger = ledger_from(settings)
    engine = sql_engine(url, timeout=5)
    system = SqlMappedData("odoo", engine, load_mapping(MAPPING), ledger)

    def seed() -> str:
        customer_id = f"cust-{uuid.uuid4().hex[:8]}"
        add_odoo_customer(url, customer_id)
        return customer_id

    yield DataUnderTest(
        system,
        seed,
        ledger,
        frozenset({"crm_lead", "mail_message"}),
        frozenset({"crm_lead", "mail_message"}),
    )
    engine.dispose()
