"""Customers of the CRM, with whether a case is open for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import schemas
from api.deps import AccountManager, CustomerServiceDep, Reader
from api.openapi_links import CASE_FOR_CUSTOMER, CUSTOMER_FROM_LIST, links
from api.paging import Limit, Offset

router = APIRouter(prefix="/api/customers", tags=["customers"])


@router.get("", responses=links(200, CUSTOMER_FROM_LIST, CASE_FOR_CUSTOMER))
def search_customers(
    user: Reader,
    customers: CustomerServiceDep,
    q: Annotated[
        str | None, Query(max_length=200, description="name, e-mail or id contains")
    ] = None,
    status: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> schemas.PageOut[schemas.CustomerOut]:
    return customers.search(q, status, limit, offset, user)


@router.get("/{customer_id}")
def get_customer(
    customer_id: str, user: Reader, customers: CustomerServiceDep
) -> schemas.CustomerDetail:
    return customers.get(customer_id, user)


@router.post("/{customer_id}/exclusions", status_code=201)
def exclude_from_detection(
    customer_id: str,
    body: schemas.ExclusionIn,
    user: AccountManager,
    customers: CustomerServiceDep,
) -> schemas.ExclusionOut:
    """Keep the daily scan away from one of your customers, for a reason, until a date."""
    return customers.exclude(customer_id, body, user)
