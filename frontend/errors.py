"""Errors as people read them: ``{"error": reason}`` with the right 4xx."""

from __future__ import annotations

import httpx
from fastapi import HTTPException

from picadaily.service_errors import read_service_error


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
