"""Customers of the CRM, with whether a case is open for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import schemas
from api.deps import CurrentUser, CustomerServiceDep

router = APIRouter(prefix="/api/customers", tags=["customers"])


@router.get("")
def search_customers(
    _user: CurrentUser,
    customers: CustomerServiceDep,
    q: Annotated[
        str | None, Query(max_length=200, description="name, e-mail or id contains")
    ] = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> schemas.PageOut[schemas.CustomerOut]:
    return customers.search(q, status, limit, offset)


@router.get("/{customer_id}")
def get_customer(
    customer_id: str, _user: CurrentUser, customers: CustomerServiceDep
) -> schemas.CustomerDetail:
    return customers.get(customer_id)
