"""The admin password's guessing throttle (``frontend.login_throttle``): the account's, so
nobody's wrong guesses refuse the admin's right password; bounded, so a flood is refused."""

from __future__ import annotations

import asyncio

import pytest

from frontend.login_throttle import (
    FREE_FAILURES,
    MAX_DELAY_S,
    MAX_WAITING,
    LoginThrottle,
    TooManyWaiting,
    delay_after,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def test_the_delay_grows_from_the_fifth_failure_and_is_capped() -> None:
    assert [delay_after(n) for n in range(FREE_FAILURES)] == [0.0] * FREE_FAILURES
    delays = [delay_after(n) for n in range(FREE_FAILURES, FREE_FAILURES + 12)]
    assert delays == sorted(delays) and delays[0] > 0 and delays[-1] == MAX_DELAY_S


async def test_wrong_guesses_by_others_delay_the_admins_right_password_never_refuse_it() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock, clock.sleep)
    for _ in range(FREE_FAILURES + 6):  # somebody guessing, from any address
        assert await throttle.attempt(lambda: False) is False
    assert await throttle.attempt(lambda: True) is True  # the admin: waited, then let in
    assert clock.slept and max(clock.slept) <= MAX_DELAY_S
    assert throttle.failures == 0  # and the count starts again
    clock.slept.clear()
    assert await throttle.attempt(lambda: False) is False
    assert clock.slept == []


async def test_guesses_are_checked_one_at_a_time_at_the_throttled_pace() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock, clock.sleep)
    checked: list[float] = []

    def guess() -> bool:
        checked.append(clock.now)
        return False

    for _ in range(FREE_FAILURES):
        await throttle.attempt(guess)
    await asyncio.gather(*(throttle.attempt(guess) for _ in range(MAX_WAITING)))
    gaps = [b - a for a, b in zip(checked[FREE_FAILURES - 1:], checked[FREE_FAILURES:],
                                  strict=False)]
    assert all(gap >= delay_after(FREE_FAILURES) for gap in gaps)


async def test_past_the_waiting_bound_an_attempt_is_refused_with_when_to_come_back() -> None:
    clock = Clock()
    gate = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:
        await gate.wait()
        clock.now += seconds

    throttle = LoginThrottle(clock, slow_sleep)
    for _ in range(FREE_FAILURES):
        await throttle.attempt(lambda: False)
    waiting = [asyncio.create_task(throttle.attempt(lambda: False)) for _ in range(MAX_WAITING)]
    await asyncio.sleep(0)
    with pytest.raises(TooManyWaiting) as refused:
        await throttle.attempt(lambda: True)
    assert refused.value.retry_after_s >= 1
    gate.set()
    await asyncio.gather(*waiting)
    assert await throttle.attempt(lambda: True) is True  # once the queue drains
