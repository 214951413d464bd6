"""Salesforce as a data system, through `simple-salesforce` and the REST API: a customer is the
Account whose external-id field (`customer_field`) holds their Closeout id; their Contacts,
Opportunities, Cases and Tasks are found by AccountId.

Categories: Contacts are contact data, Opportunities contracts, Cases and Tasks interaction
history (removed when the case archives, restored on return); the Account goes with the last
category. Reading is SOQL (`/query`), deleting the sObject Collections endpoint
(`DELETE /composite/sobjects`, 200 ids a call) and the Account's own record
(`DELETE /sobjects/Account/{id}`); restoring creates records again (`POST /composite/sobjects`)
with the fields a create may set, into a table only when the customer has none there (so a
retried restore creates nothing twice). Salesforce gives re-created records new ids.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.format import format_soql

from closeout.connectors.data import CUSTOMER_ROW, all_categories
from closeout.connectors.errors import (
    AmbiguousCustomer,
    ConnectorError,
    ConnectorTimeout,
    ConnectorUnavailable,
    CredentialRefused,
    RateLimited,
    UnknownCustomer,
    retry_after_seconds,
)
from closeout.crm.port import CustomerExport, CustomerSuppressed
from closeout.domain import DataCategory
from closeout.suppression.ledger import SuppressionLedger

T = TypeVar("T")
ACCOUNT = "Account"
# Each object holding a customer's records: its category, and whether archiving removes it
# (and a reactivation brings it back). Listed in the order records are restored.
OBJECTS: dict[str, tuple[DataCategory, bool]] = {
    "Contact": (DataCategory.CONTACT_DATA, False),
    "Opportunity": (DataCategory.CONTRACTS, False),
    "Case": (DataCategory.INTERACTION_HISTORY, True),
    "Task": (DataCategory.INTERACTION_HISTORY, True),
}
# The field of a re-created record pointing at the account (Task.AccountId is derived).
_POINTS_AT = {
    "Contact": "AccountId",
    "Opportunity": "AccountId",
    "Case": "AccountId",
    "Task": "WhatId",
}
_BATCH = 200
FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


def _error_code(content: Any) -> str:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or content[0].get("statusCode") or "")
    return ""


class SalesforceData:
    """A Salesforce org's customer records."""

    def __init__(
        self,
        name: str,
        instance_url: str,
        token: Callable[[], str | None],
        ledger: SuppressionLedger,
        customer_field: str = "Closeout_Id__c",
        api_version: str = "62.0",
        timeout: float = 30.0,
        ca_file: str | None = None,
    ) -> None:
        self.name = name
        self.ledger = ledger
        self.customer_field = customer_field
        self.timeout = timeout
        self._instance_url, self._api_version = instance_url, api_version
        # The access token, read again when Salesforce refuses the one held (a token file
        # that a rotation job rewrites is taken up without a restart).
        self._token = token
        self._retry_after = threading.local()
        self._session = requests.Session()
        self._session.trust_env = False
        if ca_file is not None:
            self._session.verify = ca_file
        self._session.hooks["response"].append(self._note_retry_after)
        self._held: str | None = None
        self.sf = self._connect()
        self._fields: dict[str, list[tuple[str, bool]]] = {}

    def _connect(self) -> Salesforce:
        self._held = self._token()
        return Salesforce(
            instance_url=self._instance_url,
            session_id=self._held,
            version=self._api_version,
            session=self._session,
        )

    def _note_retry_after(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._retry_after.value = response.headers.get("Retry-After")

    # ------------------------------------------------------------------ calls

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """Salesforce's answers as the connectors' typed errors; the error code only, never
        the message (it can quote a record)."""
        try:
            yield
        except ConnectorError:
            raise
        except SalesforceError as exc:
            code = _error_code(exc.content)
            if exc.status == 401:
                raise CredentialRefused(self.name, "the session token was refused (401)") from None
            if exc.status == 429 or code == "REQUEST_LIMIT_EXCEEDED":
                delay = retry_after_seconds(getattr(self._retry_after, "value", None))
                raise RateLimited(self.name, delay) from None
            if exc.status == 403:
                raise CredentialRefused(self.name, f"refused (403 {code})") from None
            raise ConnectorUnavailable(
                self.name, f"answered {exc.status} {code}".rstrip()
            ) from None
        except requests.Timeout:
            raise ConnectorTimeout(self.name, f"no answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise ConnectorUnavailable(self.name, f"unreachable ({type(exc).__name__})") from None

    def _call(self, step: Callable[[], T]) -> T:
        try:
            with self._failures():
                return step()
        except CredentialRefused:
            if self._token() == self._held:
                raise
        self.sf = self._connect()  # the token was renewed: once more with the new one
        with self._failures():
            return step()

    def rest(self, path: str, **kwargs: Any) -> Any:
        """A REST call under /services/data/vXX.X/; its JSON answer."""
        found: Any = self._call(lambda: self.sf.restful(path, timeout=self.timeout, **kwargs))
        return found

    def query(self, soql: str) -> dict[str, Any]:
        return self._call(lambda: self.sf.query_all(soql, timeout=self.timeout))

    def describe(self, sobject: str) -> list[tuple[str, bool]]:
        """The object's fields, each with whether a create may set it."""
        if sobject not in self._fields:
            found = self.rest(f"sobjects/{sobject}/describe/")
            fields = [(f["name"], bool(f.get("createable"))) for f in found["fields"]]
            odd = [name for name, _ in fields if not FIELD_NAME.fullmatch(str(name))]
            if odd:
                raise ConnectorUnavailable(self.name, f"{sobject} describes fields named {odd}")
            self._fields[sobject] = fields
        return self._fields[sobject]

    # ------------------------------------------------------------------ the port

    def check(self) -> list[str]:
        listed = self.rest("sobjects/")
        known = {o["name"]: o for o in listed.get("sobjects", [])}
        missing = []
        for sobject in (ACCOUNT, *OBJECTS):
            found = known.get(sobject)
            if found is None or not (found.get("queryable") and found.get("deletable")):
                missing.append(f"{sobject} (query and delete)")
        if ACCOUNT in known and self.customer_field not in {f for f, _ in self.describe(ACCOUNT)}:
            missing.append(f"Account.{self.customer_field}")
        return missing

    def tables_of(self, category: DataCategory) -> tuple[str, ...]:
        return tuple(o for o, (c, _) in OBJECTS.items() if c is category)

    def account_id(self, customer_id: str) -> str | None:
        soql = format_soql(
            "SELECT Id FROM Account WHERE {:literal} = {}", self.customer_field, customer_id
        )
        records = self.query(soql)["records"]
        if len(records) > 1:
            raise AmbiguousCustomer(self.name, customer_id)
        return str(records[0]["Id"]) if records else None

    def _known_account(self, customer_id: str) -> str:
        account = None if self.ledger.is_suppressed(customer_id) else self.account_id(customer_id)
        if account is None:
            raise UnknownCustomer(self.name, customer_id)
        return account

    def _records(self, sobject: str, where: str, value: str) -> list[dict[str, Any]]:
        # The object and field names are this module's constants and describe's names, each
        # checked to be a plain identifier; the values go through format_soql's quoting.
        fields = ", ".join(f for f, _ in self.describe(sobject))
        soql = format_soql(
            f"SELECT {fields} FROM {sobject} WHERE {{:literal}} = {{}}",  # nosec B608
            where,
            value,
        )
        return [
            {k: v for k, v in r.items() if k != "attributes"} for r in self.query(soql)["records"]
        ]

    def _count(self, sobject: str, where: str, value: str) -> int:
        soql = format_soql(
            f"SELECT COUNT() FROM {sobject} WHERE {{:literal}} = {{}}",  # nosec B608
            where,
            value,
        )
        return self.count(soql)

    def count(self, soql: str) -> int:
        """A `SELECT COUNT() ...` query's answer (query_all would count the records it got)."""
        answer: Any = self._call(lambda: self.sf.query(soql, timeout=self.timeout))
        return int(answer["totalSize"])

    def export(self, customer_id: str) -> CustomerExport:
        account = self._known_account(customer_id)
        tables = {CUSTOMER_ROW: self._records(ACCOUNT, "Id", account)}
        for sobject in OBJECTS:
            tables[sobject] = self._records(sobject, "AccountId", account)
        return CustomerExport(customer_id, tables)

    def _delete_ids(self, ids: list[str]) -> int:
        deleted = 0
        for start in range(0, len(ids), _BATCH):
            chunk = ",".join(ids[start : start + _BATCH])
            results = self.rest(
                "composite/sobjects", params={"ids": chunk, "allOrNone": "false"}, method="DELETE"
            )
            for result in results or []:
                codes = {e.get("statusCode") for e in result.get("errors", [])}
                if result.get("success"):
                    deleted += 1
                elif codes - {"ENTITY_IS_DELETED"}:  # gone already: what a retry meets
                    raise ConnectorUnavailable(self.name, f"a delete was refused: {sorted(codes)}")
        return deleted

    def _delete_objects(self, account: str, objects: list[str]) -> dict[str, int]:
        removed = {}
        for sobject in objects:
            ids = [r["Id"] for r in self._records_ids(sobject, account)]
            removed[sobject] = self._delete_ids(ids)
        return removed

    def _records_ids(self, sobject: str, account: str) -> list[dict[str, Any]]:
        soql = format_soql(f"SELECT Id FROM {sobject} WHERE AccountId = {{}}", account)  # nosec B608
        return list(self.query(soql)["records"])

    def minimise(self, customer_id: str) -> dict[str, int]:
        account = self._known_account(customer_id)
        return self._delete_objects(account, [o for o, (_, gone) in OBJECTS.items() if gone])

    def delete(self, customer_id: str, categories: Collection[DataCategory]) -> dict[str, int]:
        account = self.account_id(customer_id)
        if account is None:
            return {}
        wanted = set(categories)
        removed = self._delete_objects(account, [o for o, (c, _) in OBJECTS.items() if c in wanted])
        if all_categories(wanted):  # the account last: the others are found through it
            removed[CUSTOMER_ROW] = self._delete_ids([account])
        return removed

    def restore(self, export: CustomerExport) -> dict[str, int]:
        """The archived Cases and Tasks created again under the customer's account (into an
        object only where the account has none, so a retry creates nothing twice)."""
        if self.ledger.is_suppressed(export.customer_id):
            raise CustomerSuppressed(export.customer_id)
        account = self._known_account(export.customer_id)
        restored: dict[str, int] = {}
        for sobject, (_, archived) in OBJECTS.items():
            rows = export.tables.get(sobject, [])
            if not archived or not rows or self._count(sobject, "AccountId", account):
                restored[sobject] = 0
                continue
            createable = {f for f, can in self.describe(sobject) if can}
            records = [
                {"attributes": {"type": sobject}}
                | {k: v for k, v in row.items() if k in createable}
                | {_POINTS_AT[sobject]: account}
                for row in rows
            ]
            created = 0
            for start in range(0, len(records), _BATCH):
                body = {"allOrNone": True, "records": records[start : start + _BATCH]}
                results = self.rest("composite/sobjects", method="POST", json=body)
                failed = [r for r in results if not r.get("success")]
                if failed:
                    codes = sorted({e.get("statusCode") for r in failed for e in r["errors"]})
                    raise ConnectorUnavailable(self.name, f"a restore was refused: {codes}")
                created += len(results)
            restored[sobject] = created
        return restored

    def remaining(
        self, customer_id: str, categories: Collection[DataCategory] | None = None
    ) -> dict[str, int]:
        wanted = set(DataCategory) if categories is None else set(categories)
        account = self.account_id(customer_id)
        if account is None:
            return {}
        found = {
            sobject: self._count(sobject, "AccountId", account)
            for sobject, (category, _) in OBJECTS.items()
            if category in wanted
        }
        if all_categories(wanted):
            found[CUSTOMER_ROW] = 1
        return {t: n for t, n in found.items() if n}
