"""Refused customer links, counted per client address and minute rather than chained each.

Anyone can ask for `/r/<anything>`; one audit event per refusal would let a request loop
flood the chain through its single head row and slow every audited action. So the first
refusal from an address in a minute is audited at once, as it always was (the case, the link,
why); the rest of that minute are counted in memory and written as one summary event once
the minute is over. Forged links (which name no case) from one address add at most two events
a minute, whatever it sends; a link we signed is counted apart, under its case, so the case's
timeline still shows it (only links someone was sent can be signed: their number is small).
The events' `count`s add up to the refusals. Addresses are kept as keyed digests only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from closeout.cases.repository import CaseRepository
from closeout.contracts import AuditEntry
from closeout.links import LinkRefused

ACTOR = "customer-link"
REFUSED = "customer_link_refused"
SUMMARY = "customer_links_refused"
# Past this many addresses in one minute, the others share one tally (memory stays bounded).
MAX_ADDRESSES_PER_MINUTE = 1_000
OTHER_ADDRESSES = "other-addresses"


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


@dataclass
class _Tally:
    """Refusals of one address, minute and case after the first, which was audited at once."""

    count: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


# A minute, a client address, and the case the link named (None: a forged link names none).
_Key = tuple[datetime, str, str | None]


class RefusedLinkCounter:
    def __init__(
        self,
        repo: CaseRepository,
        address_key: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        per_minute: int = 30,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.per_minute = per_minute
        self._key = address_key
        # Refusals per minute and address (the tallies split them by case as well).
        self._per_address: Counter[tuple[datetime, str]] = Counter()
        self._lock = threading.Lock()
        self._tallies: dict[_Key, _Tally] = {}
        # Per minute, the addresses seen (bounded by MAX_ADDRESSES_PER_MINUTE).
        self._addresses: dict[datetime, set[str]] = {}

    def client_ref(self, address: str) -> str:
        """The keyed digest an address is recorded under: comparable, not readable."""
        return hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()

    def retry_after(self, address: str) -> int | None:
        """Seconds until the address may ask again, once it has had its refusals this minute;
        None while it may."""
        now = self.clock()
        minute = _minute(now)
        with self._lock:
            over = self._per_address[(minute, address)] >= self.per_minute
        if not over:
            return None
        return max(int((minute + timedelta(minutes=1) - now).total_seconds()), 1)

    def refused(self, address: str, refusal: LinkRefused) -> None:
        """Count one refusal; audit it at once when it is the address's first this minute."""
        now = self.clock()
        minute = _minute(now)
        self.flush(before=minute)  # the minutes that are over first: the trail stays in order
        case_id = refusal.link.case_id if refusal.link is not None else None
        with self._lock:
            self._per_address[(minute, address)] += 1
            seen = self._addresses.setdefault(minute, set())
            if address not in seen:
                if len(seen) >= MAX_ADDRESSES_PER_MINUTE:
                    address = OTHER_ADDRESSES
                seen.add(address)
            key = (minute, address, case_id)
            tally = self._tallies.get(key)
            if tally is None:
                self._tallies[key] = _Tally()
            else:
                tally.count += 1
                tally.kinds[str(refusal.kind)] += 1
        if tally is None:
            self._audit_first(address, refusal, now)

    def _audit_first(self, address: str, refusal: LinkRefused, at: datetime) -> None:
        link = refusal.link
        known_case = link is not None and self.repo.get_case(link.case_id) is not None
        details: dict[str, object] = {"client_sha256": self.client_ref(address), "count": 1}
        if link is not None:
            details |= {"link_id": link.link_id, "action": str(link.action)}
        self.repo.append_audit(
            link.case_id if link is not None and known_case else None,
            AuditEntry(str(uuid.uuid4()), ACTOR, REFUSED, at, str(refusal.kind), details),
        )

    def flush(self, before: datetime | None = None) -> int:
        """Write the summaries of the minutes before `before` (all of them when None)."""
        with self._lock:
            if before is not None and all(minute >= before for minute in self._addresses):
                return 0  # the usual case, checked without walking every tally
            done = [key for key in self._tallies if before is None or key[0] < before]
            tallies = [(key, self._tallies.pop(key)) for key in done]
            for minute in {key[0] for key in done}:
                self._addresses.pop(minute, None)
            for counted in [k for k in self._per_address if before is None or k[0] < before]:
                del self._per_address[counted]
        written = 0
        for (minute, address, case_id), tally in tallies:
            if tally.count == 0:
                continue
            known_case = case_id is not None and self.repo.get_case(case_id) is not None
            self.repo.append_audit(
                case_id if known_case else None,
                AuditEntry(
                    str(uuid.uuid4()),
                    ACTOR,
                    SUMMARY,
                    minute + timedelta(minutes=1),
                    None,
                    {
                        "client_sha256": self.client_ref(address),
                        "minute_at": minute.isoformat(),
                        "count": tally.count,
                        "kinds": dict(sorted(tally.kinds.items())),
                    },
                ),
            )
            written += 1
        return written

    @contextlib.asynccontextmanager
    async def flushed_each_minute(self) -> AsyncIterator[None]:
        """While the app runs, write each minute's summaries once it is over; all at the end."""

        async def flush_forever() -> None:
            while True:
                now = self.clock()
                next_minute = _minute(now) + timedelta(minutes=1)
                await asyncio.sleep(max((next_minute - now).total_seconds(), 0) + 1)
                await asyncio.to_thread(self.flush, _minute(self.clock()))

        task = asyncio.create_task(flush_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(self.flush)
