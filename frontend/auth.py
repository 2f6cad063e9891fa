"""The admin checks of a request (``require_admin``, ``AdminOnly``): a bearer token, or a session
cookie with its CSRF token from this site. Who the admins are, their sessions and the login
throttle: ``frontend.admins``."""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from picadaily.steps import Status

from .admins import COOKIE, CSRF_HEADER, SAFE_METHODS, Admins
from .deps import Frontend, FrontendDep
from .errors import http_error


async def require_admin(request: Request, fe: FrontendDep) -> None:
    admins: Admins = fe.admins
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and admins.token_ok(token.strip()):
            return
        raise http_error(401, "that bearer token is not the admin token",
                         headers={"WWW-Authenticate": "Bearer"})
    session = request.cookies.get(COOKIE)
    csrf = await admins.csrf_of(session) if session else None
    if csrf is None:
        raise http_error(401, "only an admin may do this: log in at /login, or send "
                              "Authorization: Bearer <PICADAILY_ADMIN_TOKEN>",
                         headers={"WWW-Authenticate": "Bearer"})
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise http_error(403, f"a request from another site ({origin}) is refused")
    if not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(), csrf.encode()):
        raise http_error(403, f"this request lacks the session's {CSRF_HEADER} header")


async def is_admin(request: Request, fe: FrontendDep) -> bool:
    """Whether the caller is an admin (a safe request: no CSRF check applies)."""
    from fastapi import HTTPException

    try:
        await require_admin(request, fe)
    except HTTPException:
        return False
    return True


async def require_admin_for_hidden(request: Request, fe: Frontend, status: str) -> None:
    """A picture waiting for a person or rejected is shown to admins only: its trace and where
    it is, like its image."""
    if status in (Status.AWAITING_REVIEW, Status.REJECTED):
        await require_admin(request, fe)


AdminOnly = Depends(require_admin)
AdminDep = Annotated[None, AdminOnly]
