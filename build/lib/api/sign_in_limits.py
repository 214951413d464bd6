"""How many sign-in attempts an account and a client address get, counted in memory.

Every attempt counts, right or wrong, before the password is looked at: a refused attempt
costs no Argon2 hash, so a flood of guesses cannot make `/login` a CPU sink. The counts
live in this API process (`limits`' memory storage): with several API processes each
counts on its own, and a restart forgets them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

# One audit event per limited account or address and minute, however many attempts follow.
AUDIT_EVERY = parse("1 per minute")


class LimitScope(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True)
class Throttled:
    """An attempt refused: which limit, how long until the next one is let through, and
    whether this is the first refusal of the minute (the one to audit)."""

    scope: LimitScope
    retry_after_seconds: int
    audit: bool

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after_seconds / 60))


class SignInLimits:
    def __init__(self, per_account: str, per_address: str) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limits: dict[LimitScope, RateLimitItem] = {
            LimitScope.ACCOUNT: parse(per_account),
            LimitScope.ADDRESS: parse(per_address),
        }

    def attempt(self, email: str, address: str) -> Throttled | None:
        """Count an attempt; a Throttled when either limit is used up (nothing is counted)."""
        keys = {LimitScope.ACCOUNT: email.strip().lower(), LimitScope.ADDRESS: address}
        for scope, key in keys.items():
            limit = self._limits[scope]
            if not self._limiter.test(limit, scope, key):
                reset = self._limiter.get_window_stats(limit, scope, key).reset_time
                return Throttled(
                    scope,
                    max(1, math.ceil(reset - time.time())),
                    audit=self._limiter.hit(AUDIT_EVERY, "audit", scope, key),
                )
        for scope, key in keys.items():
            self._limiter.hit(self._limits[scope], scope, key)
        return None

    def signed_in(self, email: str) -> None:
        """The account's owner got in: their earlier mistakes no longer count."""
        self._limiter.clear(
            self._limits[LimitScope.ACCOUNT], LimitScope.ACCOUNT, email.strip().lower()
        )
