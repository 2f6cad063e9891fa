"""Errors as people read them: ``{"error": reason}`` with the right 4xx."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import HTTPException
from pydantic import BaseModel

from picadaily.service_errors import read_service_error


class ErrorBody(BaseModel):
    """What every refusal and failure of the public API answers."""

    error: str


MEANING = {
    400: "malformed request (an unreadable body, a cursor this server did not give out)",
    401: "only an admin may do this (log in, or send the bearer token)",
    403: "refused: from another site, without the session's CSRF token, or not shown",
    404: "no such picture, letter or object",
    409: "the state does not allow it now (not waiting, already decided, not redrivable)",
    413: "too large (a file, the whole request, too many files)",
    422: "invalid input, with the reason",
    429: "too many at once from this client, or logins waiting",
    502: "a part behind the frontend did not answer",
    503: "not now: a part is restarting or busy; try again",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of these error statuses, each with ``ErrorBody`` (a 422 is
    ours too, not FastAPI's default validation shape)."""
    return {code: {"model": ErrorBody, "description": MEANING[code]} for code in codes}


def http_error(status: int, reason: str,
               headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail={"error": reason}, headers=headers)


async def upstream_error(resp: httpx.Response) -> HTTPException:
    """A service's error, as the public API answers it: its reason in words, and its status
    when that means something to the caller (else 502)."""
    error = read_service_error(resp)
    assert error is not None, "upstream_error of a success"
    status = error.status if error.status in (400, 404, 409, 410, 422) else 502
    return http_error(404 if status == 410 else status, error.reason)
