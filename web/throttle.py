"""Sign-in throttling per user name and client address, with the moving window of the `limits` package."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

MAX_FAILURES = 10
WINDOW_S = 15 * 60


class LoginThrottle:
    """After MAX_FAILURES failed sign-ins of one name from one address within WINDOW_S, wait; a success resets."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: int = WINDOW_S) -> None:
        self.item = RateLimitItemPerSecond(max_failures, window_s)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    @staticmethod
    def _key(name: str, client: str) -> tuple[str, str]:
        return name.strip().casefold(), client  # names are case-insensitive, like the users table

    def retry_after(self, name: str, client: str) -> int | None:
        """Seconds to wait before this name may be tried again from this address, or None."""
        if self.limiter.test(self.item, *self._key(name, client)):
            return None
        reset = self.limiter.get_window_stats(self.item, *self._key(name, client)).reset_time
        return max(1, math.ceil(reset - time.time()))

    def failed(self, name: str, client: str) -> None:
        self.limiter.hit(self.item, *self._key(name, client))

    def succeeded(self, name: str, client: str) -> None:
        self.limiter.clear(self.item, *self._key(name, client))
