"""The supervisor's restart decisions: back-off 1 s doubling to 30 s, reset after a healthy
minute, marked failed after too many crashes in a row."""

from __future__ import annotations

from pathlib import Path

from cli.supervisor import HEALTHY_AFTER_S, MAX_DELAY_S, MAX_RAPID_CRASHES, Proc


def proc() -> Proc:
    return Proc("vision", ["true"], None, lambda _p: True, Path("/dev/null"))


def test_rapid_crashes_back_off_doubling_then_the_process_is_marked_failed() -> None:
    p = proc()
    delays = []
    now = 0.0
    for _ in range(MAX_RAPID_CRASHES - 1):
        p.started_s = now
        now += 2.0  # it dies two seconds after each start
        delay = p.crashed(now, 1)
        assert delay is not None and p.state == "restarting"
        delays.append(delay)
        now += delay
    assert delays == [min(2.0 ** i, MAX_DELAY_S) for i in range(MAX_RAPID_CRASHES - 1)]
    p.started_s = now
    assert p.crashed(now + 1, -9) is None
    assert p.state == "failed" and p.last_exit == -9


def test_a_healthy_minute_resets_the_back_off() -> None:
    p = proc()
    p.started_s = 0.0
    assert p.crashed(1.0, 1) == 1.0
    p.started_s = 2.0
    assert p.crashed(3.0, 1) == 2.0
    p.started_s = 10.0
    assert p.crashed(10.0 + HEALTHY_AFTER_S, -9) == 1.0  # ran healthy long enough: start over
