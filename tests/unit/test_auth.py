"""The admin rules that need no server: password hashing, the token, the example secrets, the
login limit."""

from __future__ import annotations

import pytest

from frontend.admins import Admins, AdminsMisconfigured
from frontend.login_throttle import FREE_FAILURES, LoginThrottle
from picadaily.settings import Settings


def test_the_password_is_checked_against_an_argon2_hash() -> None:
    admins = Admins(Settings(admin_password="s3cret-enough", admin_token="tok"), kv=None)
    assert admins.can_log_in and admins._hash.startswith("$argon2")
    assert admins.password_ok("s3cret-enough") and not admins.password_ok("s3cret")
    hashed = Admins(Settings(admin_password_hash=admins._hash), kv=None)
    assert hashed.password_ok("s3cret-enough")
    assert admins.token_ok("tok") and not admins.token_ok("to") and not admins.token_ok("")


def test_no_password_means_no_login_and_no_token_means_no_bearer() -> None:
    admins = Admins(Settings(), kv=None)
    assert not admins.can_log_in and not admins.password_ok("")
    assert not admins.token_ok("")


@pytest.mark.parametrize("settings", [
    {"admin_password": "change-me-to-a-long-random-password"},
    {"admin_password": "x", "admin_token": "change-me-to-another-long-random-string"},
])
def test_the_examples_from_env_example_are_refused(settings: dict[str, str]) -> None:
    with pytest.raises(AdminsMisconfigured, match="example"):
        Admins(Settings(**settings), kv=None)


async def test_the_right_password_logs_in_after_anyones_wrong_guesses() -> None:
    admins = Admins(Settings(admin_password="pw"), kv=None)
    admins.throttle = LoginThrottle(sleep=_no_wait)
    for i in range(FREE_FAILURES + 3):
        assert await admins.log_in(f"guess-{i}") is False
    assert await admins.log_in("pw") is True


async def _no_wait(_seconds: float) -> None:
    return None
