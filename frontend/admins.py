"""The admins: who may change the system, by session cookie (a login with the admin password) or by
bearer token (the API and the command line). Uploading and viewing need neither.

- The password is checked against an argon2 hash (``PICADAILY_ADMIN_PASSWORD_HASH``, or the hash
  of ``PICADAILY_ADMIN_PASSWORD`` made at start); the token is compared in constant time.
- Sessions live in the NATS KV bucket (they survive a restart of the frontend and are shared by
  its replicas): the cookie holds a random id, ``HttpOnly``, ``SameSite=Strict``; the KV key is
  the id's SHA-256, so reading the bucket does not yield a usable cookie.
- Every state-changing request on a session must carry the session's CSRF token in
  ``X-CSRF-Token`` and, when the browser sends an ``Origin``, come from this site.
- Guessing is slowed for the account, not per address (``login_throttle``): nobody's wrong
  guesses refuse the admin's right password.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from picadaily.settings import Settings

from .login_throttle import LoginThrottle

COOKIE = "picadaily_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Passwords shipped as examples: a deployment that still uses one refuses to start.
EXAMPLE_PASSWORDS = frozenset({"change-me-to-a-long-random-password"})
EXAMPLE_TOKENS = frozenset({"change-me-to-another-long-random-string"})


class AdminsMisconfigured(RuntimeError):
    pass


@dataclass
class Admins:
    settings: Settings
    kv: Any
    _hash: str = ""
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    def __post_init__(self) -> None:
        from argon2 import PasswordHasher

        self._hasher = PasswordHasher()
        password = self.settings.admin_password
        if password in EXAMPLE_PASSWORDS or self.settings.admin_token in EXAMPLE_TOKENS:
            raise AdminsMisconfigured("PICADAILY_ADMIN_PASSWORD or PICADAILY_ADMIN_TOKEN is "
                                      "still the example from .env.example: choose your own")
        self._hash = self.settings.admin_password_hash or (
            self._hasher.hash(password) if password else "")

    @property
    def can_log_in(self) -> bool:
        return bool(self._hash)

    def password_ok(self, password: str) -> bool:
        from argon2.exceptions import VerificationError, VerifyMismatchError

        if not self._hash:
            return False
        try:
            return bool(self._hasher.verify(self._hash, password))
        except (VerifyMismatchError, VerificationError):
            return False

    def token_ok(self, token: str) -> bool:
        expected = self.settings.admin_token
        return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())

    async def log_in(self, password: str) -> bool:
        """Is it the admin password? Checked in its turn (``LoginThrottle``; raises
        ``TooManyWaiting``)."""
        return await self.throttle.attempt(lambda: self.password_ok(password))

    async def open_session(self) -> tuple[str, str]:
        """A new session: (cookie value, CSRF token)."""
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = time.time() + self.settings.session_hours * 3600
        await self.kv.put(_key(session), json.dumps({"csrf": csrf, "expires": expires}).encode())
        return session, csrf

    async def csrf_of(self, session: str) -> str | None:
        """The session's CSRF token; None when there is no such live session."""
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self.kv.get(_key(session))
        except KeyNotFoundError:
            return None
        doc = json.loads(entry.value or b"{}")
        if doc.get("expires", 0) < time.time():
            await self.close_session(session)
            return None
        csrf: str = doc["csrf"]
        return csrf

    async def close_session(self, session: str) -> None:
        await self.kv.delete(_key(session))


def _key(session: str) -> str:
    return "session." + hashlib.sha256(session.encode()).hexdigest()
