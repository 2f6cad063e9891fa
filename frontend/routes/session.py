"""``/api/session``: log in as admin (a session cookie and its CSRF token), see who you are, log
out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from ..admins import COOKIE
from ..deps import FrontendDep
from ..errors import error_responses, http_error
from ..login_throttle import TooManyWaiting

router = APIRouter(prefix="/api/session", tags=["session"],
                   responses=error_responses(400, 401, 413, 422, 429, 503))


class Login(BaseModel):
    password: str


@router.post("")
async def log_in(login: Login, request: Request, response: Response,
                 fe: FrontendDep) -> dict[str, Any]:
    admins = fe.admins
    try:
        right = await admins.log_in(login.password)
    except TooManyWaiting as exc:
        raise http_error(429, str(exc), headers={
            "Retry-After": str(max(1, round(exc.retry_after_s)))}) from exc
    if not right:
        raise http_error(401, "that is not the admin password")
    session, csrf = await admins.open_session()
    response.set_cookie(COOKIE, session, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https",
                        max_age=int(fe.settings.session_hours * 3600), path="/")
    return {"admin": True, "csrf": csrf}


@router.get("")
async def who(request: Request, fe: FrontendDep) -> dict[str, Any]:
    session = request.cookies.get(COOKIE)
    csrf = await fe.admins.csrf_of(session) if session else None
    return {"admin": csrf is not None, "csrf": csrf, "can_log_in": fe.admins.can_log_in}


@router.delete("", status_code=204)
async def log_out(request: Request, response: Response, fe: FrontendDep) -> None:
    session = request.cookies.get(COOKIE)
    if session:
        await fe.admins.close_session(session)
    response.delete_cookie(COOKIE, path="/")
