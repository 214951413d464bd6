"""What every detection rule's query shares: who counts as a customer to scan, and its type."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlmodel import col

from closeout.crm.models import CrmCustomer
from closeout.domain import CustomerStatus

ACTIVE = col(CrmCustomer.status) == CustomerStatus.ACTIVE
Query = Select[*tuple[Any, ...]]
