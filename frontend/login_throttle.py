"""Guessing the admin password, slowed for everyone, never a lock-out of the admin by others.

There is one admin account, so the limit is the account's, not an address's: behind a proxy, a
NAT or on the stack's own machine everybody shares one address, and five wrong guesses by
anyone used to hold the real admin back for a minute (429 on the right password), while a
client rotating ``X-Forwarded-For`` got unlimited guesses.

Now: after ``FREE_FAILURES`` wrong passwords in a row, each next attempt — whoever sends it —
waits its turn, one at a time, ``FIRST_DELAY_S`` doubling per further failure up to
``MAX_DELAY_S``; a right password is then accepted (and resets the count). At most
``MAX_WAITING`` attempts wait at once; more are refused with 429 and ``Retry-After``. A guesser
gets at most one guess per ``MAX_DELAY_S`` (2,880 a day); the admin's login waits at most
``MAX_WAITING`` turns, and the bearer token (the CLI, scripts) is never held back. One counter,
whatever the number of guessers: nothing to grow without bound. Per frontend process (replicas
each keep their own).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

FREE_FAILURES = 4
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
MAX_WAITING = 8


class TooManyWaiting(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many logins are waiting: try again in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


def delay_after(failures: int) -> float:
    """The wait before the next check after ``failures`` wrong passwords in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(FIRST_DELAY_S * 2 ** (failures - FREE_FAILURES), MAX_DELAY_S)


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._clock, self._sleep = clock, sleep
        self._lock = asyncio.Lock()
        self.failures = 0
        self._next_at = 0.0
        self._waiting = 0

    async def attempt(self, check: Callable[[], bool]) -> bool:
        """Run ``check`` (is the password right?) in its turn; raises ``TooManyWaiting``."""
        if self._waiting >= MAX_WAITING:
            raise TooManyWaiting(max(1.0, self._next_at - self._clock()) +
                                 MAX_WAITING * delay_after(self.failures))
        self._waiting += 1
        try:
            async with self._lock:
                wait = self._next_at - self._clock()
                if wait > 0:
                    await self._sleep(wait)
                ok = check()
                if ok:
                    self.failures, self._next_at = 0, 0.0
                else:
                    self.failures += 1
                    self._next_at = self._clock() + delay_after(self.failures)
                return ok
        finally:
            self._waiting -= 1
