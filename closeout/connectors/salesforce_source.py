"""A Salesforce org as the customer source, by SOQL through the same session as its data
system (closeout/connectors/salesforce.py): a customer is the Account whose external-id field
holds their Closeout id.

- who they are: the Account's Name and Phone, its first Contact with an e-mail address (an
  Account has no address of its own), its owner's User.Email as the account manager;
- their value tier, language and status from Account fields when the connector names them
  (`value_tier_field`, `locale_field`, `status_field`: a custom field where Closeout writes
  the closing's status for the company's people to see);
- the account history from Opportunities (won ones as orders, by CloseDate and Amount), Cases
  and Tasks (as interactions); Salesforce has no standard invoice object, so no invoices.
- a bounced notice is written on the Contact it went to (EmailBouncedReason and Date, the
  fields Salesforce's own bounce handling fills).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from simple_salesforce.format import format_soql

from closeout.connectors.salesforce import FIELD_NAME, SalesforceData
from closeout.crm.port import AccountHistory, CustomerDetails, CustomerProfile, MailContact
from closeout.domain import CustomerStatus, ValueTier

_EPOCH = datetime.fromtimestamp(0, UTC)
BOUNCED = "A Closeout notice was refused"
OWNER_TTL = 300.0


def _moment(value: Any) -> datetime | None:
    """A Salesforce date ("2026-10-01") or dateTime ("2026-12-01T09:00:00.000+0000")."""
    if not value:
        return None
    text = str(value)
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    found = datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return found.astimezone(UTC)


class SalesforceSource:
    """The customers of a Salesforce org."""

    def __init__(
        self,
        data: SalesforceData,
        status_field: str | None = None,
        value_tier_field: str | None = None,
        locale_field: str | None = None,
        default_owner: str | None = None,
        default_locale: str = "en",
    ) -> None:
        for named in (status_field, value_tier_field, locale_field):
            if named is not None and not FIELD_NAME.fullmatch(named):
                raise ValueError(f"{data.name}: {named!r} is not a field name")
        self.data = data
        self.name = data.name
        self.status_field = status_field
        self.value_tier_field = value_tier_field
        self.locale_field = locale_field
        self.default_owner = default_owner or ""
        self.default_locale = default_locale
        # Each owner's address for a while: a renamed user is seen within OWNER_TTL.
        self._owners: dict[str, tuple[float, str]] = {}
        chosen = (data.customer_field, status_field, value_tier_field, locale_field)
        standard = ("Id", "Name", "Phone", "OwnerId", "CreatedDate", "BillingCountry")
        self._fields = ", ".join([*standard, *(f for f in chosen if f)])

    # ------------------------------------------------------------------ reads

    def _accounts(self, where: str, *values: Any, tail: str = "") -> list[dict[str, Any]]:
        # The field names are the connector's, each checked to be a plain identifier; values
        # go through format_soql's quoting.
        soql = format_soql(
            f"SELECT {self._fields} FROM Account WHERE {where}{tail}",  # nosec B608
            *values,
        )
        return list(self.data.query(soql)["records"])

    def _one(self, customer_id: str) -> dict[str, Any] | None:
        if self.data.ledger.is_suppressed(customer_id):
            return None
        if self.data.account_id(customer_id) is None:  # two accounts are refused there
            return None
        found = self._accounts("{:literal} = {}", self.data.customer_field, customer_id)
        return found[0] if found else None

    def _owner(self, owner_id: str | None) -> str:
        if not owner_id:
            return self.default_owner
        held = self._owners.get(owner_id)
        if held is not None and held[0] > time.monotonic():
            return held[1]
        soql = format_soql("SELECT Email FROM User WHERE Id = {}", owner_id)
        users = self.data.query(soql)["records"]
        if not users or not users[0].get("Email"):
            return self.default_owner  # not remembered: the user may be made tomorrow
        email = str(users[0]["Email"]).lower()
        self._owners[owner_id] = (time.monotonic() + OWNER_TTL, email)
        return email

    def _contact(self, account: str) -> dict[str, Any] | None:
        soql = format_soql(
            "SELECT Id, Name, Email FROM Contact WHERE AccountId = {} AND Email != null "
            "ORDER BY CreatedDate LIMIT 1",
            account,
        )
        found = self.data.query(soql)["records"]
        return found[0] if found else None

    def _text(self, row: dict[str, Any], field: str | None, default: str) -> str:
        value = row.get(field) if field else None
        return str(value) if value not in (None, "") else default

    def _details(self, row: dict[str, Any], contact: dict[str, Any] | None) -> CustomerDetails:
        tier = self._text(row, self.value_tier_field, str(ValueTier.STANDARD))
        return CustomerDetails(
            id=str(row[self.data.customer_field]),
            name=str(row.get("Name") or ""),
            email=str(contact["Email"]) if contact else "",
            phone=row.get("Phone"),
            owner=self._owner(row.get("OwnerId")),
            value_tier=tier if tier in set(ValueTier) else str(ValueTier.STANDARD),
            locale=self._text(row, self.locale_field, self.default_locale),
            status=self._text(row, self.status_field, str(CustomerStatus.ACTIVE)),
            created_at=_moment(row.get("CreatedDate")) or _EPOCH,
            closed_at=None,
        )

    def customer(self, customer_id: str) -> CustomerDetails | None:
        row = self._one(customer_id)
        return None if row is None else self._details(row, self._contact(str(row["Id"])))

    def get_profile(self, customer_id: str) -> CustomerProfile | None:
        row = self._one(customer_id)
        if row is None:
            return None
        d = self._details(row, None)
        return CustomerProfile(d.id, d.owner, d.value_tier, d.locale, d.status,
                               row.get("BillingCountry"))  # fmt: skip

    def primary_contact(self, customer_id: str) -> MailContact | None:
        row = self._one(customer_id)
        contact = None if row is None else self._contact(str(row["Id"]))
        if row is None or contact is None:
            return None
        locale = self._text(row, self.locale_field, self.default_locale)
        return MailContact(str(contact["Email"]), str(contact.get("Name") or row["Name"]), locale)

    def search(
        self, q: str | None, status: str | None, limit: int, offset: int, owner: str | None = None
    ) -> tuple[list[CustomerDetails], int]:
        field = self.data.customer_field
        where, values = ["{:literal} != null"], list[Any]([field])
        if q:
            where.append("(Name LIKE '%{:like}%' OR {:literal} LIKE '%{:like}%')")
            values += [q, field, q]
        if owner is not None:
            users = self.data.query(format_soql("SELECT Id FROM User WHERE Email = {}", owner))
            ids = [str(u["Id"]) for u in users["records"]]
            if not ids and owner != self.default_owner:
                return [], 0
            where.append("(OwnerId IN {} OR OwnerId = null)" if owner == self.default_owner
                         else "OwnerId IN {}")  # fmt: skip
            values.append(ids or [""])
        if status:
            if self.status_field is None:
                if status != CustomerStatus.ACTIVE:
                    return [], 0
            elif status == CustomerStatus.ACTIVE:
                where.append("({:literal} = null OR {:literal} = {})")
                values += [self.status_field, self.status_field, status]
            else:
                where.append("{:literal} = {}")
                values += [self.status_field, status]
        condition = " AND ".join(where)
        count = format_soql(f"SELECT COUNT() FROM Account WHERE {condition}", *values)  # nosec B608
        total = self.data.count(count)
        rows = self._accounts(
            condition, *values, tail=format_soql(
                " ORDER BY {:literal} LIMIT {:literal} OFFSET {:literal}",
                field, str(int(limit)), str(int(offset))),
        )  # fmt: skip
        ledger = self.data.ledger
        suppressed = ledger.refs()
        kept = [r for r in rows if ledger.refs_of(str(r[field])).isdisjoint(suppressed)]
        return [self._details(r, None) for r in kept], total

    def names(self, customer_ids: Iterable[str]) -> dict[str, str]:
        ledger = self.data.ledger
        suppressed = ledger.refs()
        wanted = sorted(c for c in set(customer_ids) if ledger.refs_of(c).isdisjoint(suppressed))
        if not wanted:
            return {}
        field = self.data.customer_field
        rows = self._accounts("{:literal} IN {}", field, wanted)
        return {str(r[field]): str(r.get("Name") or "") for r in rows}

    def customers_with_email(self, email: str) -> list[str]:
        """The accounts whose first Contact with an address (where their notices go) has this
        one: another contact of the account (a clerk, someone who left) does not speak for it."""
        wanted = email.strip().lower()
        soql = format_soql("SELECT AccountId FROM Contact WHERE Email = {}", email.strip())
        accounts = sorted({str(r["AccountId"]) for r in self.data.query(soql)["records"]
                           if r.get("AccountId")})  # fmt: skip
        if not accounts:
            return []
        field = self.data.customer_field
        ids = set()
        for row in self._accounts("Id IN {} AND {:literal} != null", accounts, field):
            contact = self._contact(str(row["Id"]))
            if contact is not None and str(contact["Email"]).lower() == wanted:
                ids.add(str(row[field]))
        return [c for c in sorted(ids) if not self.data.ledger.is_suppressed(c)]

    def account_history(self, customer_id: str) -> AccountHistory | None:
        row = self._one(customer_id)
        if row is None:
            return None
        account, d = str(row["Id"]), self._details(row, None)
        won = self.data.query(format_soql(
            "SELECT Amount, CloseDate FROM Opportunity WHERE AccountId = {} AND IsWon = true",
            account))["records"]  # fmt: skip
        talks = [
            _moment(r.get("CreatedDate"))
            for soql in (
                format_soql("SELECT CreatedDate FROM Case WHERE AccountId = {}", account),
                format_soql("SELECT CreatedDate FROM Task WHERE AccountId = {}", account),
            )
            for r in self.data.query(soql)["records"]
        ]
        closed = [m for m in (_moment(r.get("CloseDate")) for r in won) if m]
        moments = [m for m in talks if m]
        return AccountHistory(
            name=d.name,
            owner=d.owner,
            value_tier=d.value_tier,
            status=d.status,
            customer_since=d.created_at,
            orders=len(won),
            order_value_cents=int(sum(Decimal(str(r.get("Amount") or 0)) for r in won) * 100),
            last_order_at=max(closed, default=None),
            unpaid_cents=0,
            recent_invoices=[],
            complaints=[],
            interactions=len(talks),
            last_interaction_at=max(moments, default=None),
            support_hours=0.0,
        )

    def customer_ids(self, batch: int = 10_000) -> Iterator[str]:
        field = self.data.customer_field
        soql = format_soql(
            "SELECT {:literal} FROM Account WHERE {:literal} != null ORDER BY {:literal}",
            field, field, field,
        )  # fmt: skip
        for row in self.data.query(soql)["records"]:
            yield str(row[field])

    # ------------------------------------------------------------------ writes

    def set_status(self, customer_id: str, status: str) -> None:
        """Written to the Account's status field; nothing when the connector names none."""
        if self.status_field is None:
            return
        if self.data.ledger.is_suppressed(customer_id):
            return  # deleted for good: never written to again
        account = self.data.account_id(customer_id)
        if account is not None:
            self.data.rest(
                f"sobjects/Account/{account}", method="PATCH", json={self.status_field: status}
            )

    def record_bounce(self, customer_id: str, email: str) -> None:
        account = self.data.account_id(customer_id)
        if account is None:
            return
        soql = format_soql(
            "SELECT Id FROM Contact WHERE AccountId = {} AND Email = {}", account, email.strip()
        )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        for contact in self.data.query(soql)["records"]:
            self.data.rest(
                f"sobjects/Contact/{contact['Id']}",
                method="PATCH",
                json={
                    "EmailBouncedReason": "A Closeout notice was refused",
                    "EmailBouncedDate": now,
                },
            )

    def check(self) -> list[str]:
        missing = self.data.check()
        named = {f for f, _ in self.data.describe("Account")}
        missing += [
            f"Account.{f}"
            for f in (self.status_field, self.value_tier_field, self.locale_field)
            if f and f not in named
        ]
        return missing
