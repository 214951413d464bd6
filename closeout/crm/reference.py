"""The reference CRM on SQLModel: the CRM port's bundled adapter."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, update
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col

from closeout.crm.models import (
    CHILD_TABLES,
    CrmContact,
    CrmCustomer,
    CrmPortalUser,
)
from closeout.crm.port import (
    AccessGrants,
    CustomerExport,
    CustomerNotFound,
    CustomerSuppressed,
)
from closeout.crm.reference_reads import CHILDREN, CUSTOMERS, ReferenceReads


def _now() -> datetime:
    return datetime.now(UTC)


# The case's steps read and change every table of one customer: their statements are built
# once, since building a statement costs more than running it.
_CUSTOMERS, _CHILDREN = CUSTOMERS, CHILDREN
_CUSTOMER_ROW = sa_select(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("key"))
_CUSTOMER_EXISTS = sa_select(_CUSTOMERS.c.id).where(_CUSTOMERS.c.id == bindparam("key"))
_UPDATE_CUSTOMER = update(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("key"))
_CHILD_ROWS = {
    name: sa_select(t).where(t.c.customer_id == bindparam("key")).order_by(t.c.id)
    for name, t in _CHILDREN.items()
}
_DELETE_CHILDREN = {
    name: delete(t).where(t.c.customer_id == bindparam("key")) for name, t in _CHILDREN.items()
}
_DELETE_CUSTOMER = delete(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("key"))


def _count(table: Table, *where: Any) -> Any:
    return sa_select(func.count()).select_from(table).where(*where).scalar_subquery()


# Every table's count of the customer's rows, in one statement.
_REMAINING = sa_select(
    _count(_CUSTOMERS, _CUSTOMERS.c.id == bindparam("key")).label("customer"),
    *(_count(t, t.c.customer_id == bindparam("key")).label(name) for name, t in _CHILDREN.items()),
)
_USERS, _KEYS, _SUBSCRIPTIONS = (
    _CHILDREN["portal_users"],
    _CHILDREN["api_keys"],
    _CHILDREN["subscriptions"],
)
_GRANTS = sa_select(
    _count(_USERS, _USERS.c.customer_id == bindparam("key"), _USERS.c.enabled).label(
        "enabled_portal_users"
    ),
    sa_select(func.coalesce(func.sum(_USERS.c.sessions_active), 0))
    .where(_USERS.c.customer_id == bindparam("key"))
    .scalar_subquery()
    .label("active_sessions"),
    _count(_KEYS, _KEYS.c.customer_id == bindparam("key"), _KEYS.c.revoked_at.is_(None)).label(
        "active_api_keys"
    ),
    _count(
        _SUBSCRIPTIONS,
        _SUBSCRIPTIONS.c.customer_id == bindparam("key"),
        _SUBSCRIPTIONS.c.active,
    ).label("active_subscriptions"),
)
_DISABLE_USERS = (
    update(_USERS)
    .where(_USERS.c.customer_id == bindparam("key"))
    .where(_USERS.c.enabled | (_USERS.c.sessions_active > 0))
    .values(enabled=False, sessions_active=0)
)
_REVOKE_KEYS = (
    update(_KEYS)
    .where(_KEYS.c.customer_id == bindparam("key"))
    .where(_KEYS.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
_STOP_SUBSCRIPTIONS = (
    update(_SUBSCRIPTIONS)
    .where(_SUBSCRIPTIONS.c.customer_id == bindparam("key"))
    .where(_SUBSCRIPTIONS.c.active)
    .values(active=False, stopped_at=bindparam("now"))
)


def _json_row(row: Any) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in row._mapping.items()
    }


def _row_to_json(row: SQLModel) -> dict[str, Any]:
    data = row.model_dump()
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in data.items()}


def _row_from_json(model: type[SQLModel], data: dict[str, Any]) -> SQLModel:
    return model.model_validate(data)


class ReferenceCrm(ReferenceReads):
    """The bundled CRM, in the same database as the read model (tables `crm_*`)."""

    def _known(self, connection: Connection, customer_id: str) -> None:
        found = connection.execute(_CUSTOMER_EXISTS, {"key": customer_id}).first()
        if found is None or self._suppressed(customer_id):
            raise CustomerNotFound(customer_id)

    def export_customer(self, customer_id: str) -> CustomerExport:
        key = {"key": customer_id}
        with self.db.transaction() as connection:
            customer = connection.execute(_CUSTOMER_ROW, key).first()
            if customer is None or self._suppressed(customer_id):
                raise CustomerNotFound(customer_id)
            tables: dict[str, list[dict[str, Any]]] = {"customer": [_json_row(customer)]}
            for name, query in _CHILD_ROWS.items():
                tables[name] = [_json_row(r) for r in connection.execute(query, key)]
            return CustomerExport(customer_id, tables)

    def set_status(self, customer_id: str, status: str) -> None:
        with self.db.transaction() as connection:
            self._known(connection, customer_id)
            connection.execute(
                _UPDATE_CUSTOMER,
                {
                    "key": customer_id,
                    "status": status,
                    "closed_at": _now() if status == "closed" else None,
                },
            )

    def revoke_access(self, customer_id: str) -> dict[str, int]:
        key = {"key": customer_id, "now": _now()}
        with self.db.transaction() as connection:
            self._known(connection, customer_id)
            return {
                "portal_users_disabled": connection.execute(_DISABLE_USERS, key).rowcount,
                "api_keys_revoked": connection.execute(_REVOKE_KEYS, key).rowcount,
                "subscriptions_stopped": connection.execute(_STOP_SUBSCRIPTIONS, key).rowcount,
            }

    def access_grants(self, customer_id: str) -> AccessGrants:
        with self.db.transaction() as connection:
            row = connection.execute(_GRANTS, {"key": customer_id}).one()
            return AccessGrants(**{k: int(v) for k, v in row._mapping.items()})

    def minimise(self, customer_id: str, tables: tuple[str, ...]) -> dict[str, int]:
        key = {"key": customer_id}
        with self.db.transaction() as connection:
            self._known(connection, customer_id)
            return {
                name: connection.execute(_DELETE_CHILDREN[name], key).rowcount for name in tables
            }

    def restore(self, export: CustomerExport, tables: tuple[str, ...]) -> dict[str, int]:
        """Put archived rows back; rows still present are left as they are (idempotent)."""
        if self._suppressed(export.customer_id):
            raise CustomerSuppressed(export.customer_id)
        with self.db.session() as session:
            if session.get(CrmCustomer, export.customer_id) is None:
                session.add(_row_from_json(CrmCustomer, export.tables["customer"][0]))
                session.flush()
            restored = {}
            for name in tables:
                model = CHILD_TABLES[name]
                count = 0
                for data in export.tables.get(name, []):
                    if session.get(model, data["id"]) is None:
                        row = _row_from_json(model, data)
                        if isinstance(row, CrmPortalUser):
                            # Restored locked, without sessions: access is re-granted explicitly.
                            row.enabled = False
                            row.sessions_active = 0
                        session.add(row)
                        count += 1
                restored[name] = count
            return restored

    def regrant_access(self, customer_id: str) -> dict[str, int]:
        """Re-enable portal users. API keys stay revoked: a returning customer issues new ones,
        so a key that leaked while the account was closed never works again."""
        with self.db.session() as session:
            self._customer(session, customer_id)
            users = session.execute(
                update(CrmPortalUser)
                .where(col(CrmPortalUser.customer_id) == customer_id)
                .where(col(CrmPortalUser.enabled).is_(False))
                .values(enabled=True)
            )
            return {"portal_users_enabled": users.rowcount}  # type: ignore[attr-defined]

    def record_bounce(self, customer_id: str, email: str) -> None:
        """Count a permanent refusal against the contact the notice went to."""
        with self.db.session() as session:
            session.execute(
                update(CrmContact)
                .where(col(CrmContact.customer_id) == customer_id, col(CrmContact.email) == email)
                .values(bounce_count=CrmContact.bounce_count + 1)
            )

    def delete_customer(self, customer_id: str) -> dict[str, int]:
        key = {"key": customer_id}
        with self.db.transaction() as connection:
            removed = {
                name: connection.execute(_DELETE_CHILDREN[name], key).rowcount
                for name in reversed(_DELETE_CHILDREN)
            }
            removed["customer"] = connection.execute(_DELETE_CUSTOMER, key).rowcount
            return removed

    def remaining_records(self, customer_id: str) -> dict[str, int]:
        with self.db.transaction() as connection:
            row = connection.execute(_REMAINING, {"key": customer_id}).one()
            return {k: int(v) for k, v in row._mapping.items() if v}
