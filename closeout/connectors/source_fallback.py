"""The company's CRM as the customer source, with the reference CRM behind it while the latter
still holds customers: cases opened before the source was connected run on to their end (their
notices, status, restriction and reactivation read the customer where they are), and new
customers come from the company's CRM. A customer both hold is the company's."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from closeout.crm.port import (
    AccountHistory,
    CustomerDetails,
    CustomerProfile,
    CustomerSource,
    MailContact,
)


class SourceWithFallback:
    """`source` first; `fallback` (the reference CRM) for a customer `source` does not hold."""

    def __init__(self, source: CustomerSource, fallback: CustomerSource) -> None:
        self.source = source
        self.fallback = fallback

    def _holder(self, customer_id: str) -> CustomerSource:
        if self.source.get_profile(customer_id) is not None:
            return self.source
        return self.fallback

    def get_profile(self, customer_id: str) -> CustomerProfile | None:
        return self.source.get_profile(customer_id) or self.fallback.get_profile(customer_id)

    def customer(self, customer_id: str) -> CustomerDetails | None:
        return self.source.customer(customer_id) or self.fallback.customer(customer_id)

    def search(
        self, q: str | None, status: str | None, limit: int, offset: int, owner: str | None = None
    ) -> tuple[list[CustomerDetails], int]:
        """The company's customers: the reference CRM's are reached by id (its own pages)."""
        return self.source.search(q, status, limit, offset, owner)

    def names(self, customer_ids: Iterable[str]) -> dict[str, str]:
        wanted = set(customer_ids)
        found = self.source.names(wanted)
        return self.fallback.names(wanted - set(found)) | found

    def primary_contact(self, customer_id: str) -> MailContact | None:
        return self._holder(customer_id).primary_contact(customer_id)

    def customers_with_email(self, email: str) -> list[str]:
        return sorted(
            set(self.source.customers_with_email(email))
            | set(self.fallback.customers_with_email(email))
        )

    def account_history(self, customer_id: str) -> AccountHistory | None:
        return self._holder(customer_id).account_history(customer_id)

    def set_status(self, customer_id: str, status: str) -> None:
        self._holder(customer_id).set_status(customer_id, status)

    def record_bounce(self, customer_id: str, email: str) -> None:
        self._holder(customer_id).record_bounce(customer_id, email)

    def customer_ids(self, batch: int = 10_000) -> Iterator[str]:
        yield from self.source.customer_ids(batch)
        yield from self.fallback.customer_ids(batch)
