"""Errors as people read them: ``{"error": reason}`` with the right 4xx."""

from __future__ import annotations

from fastapi import HTTPException


def http_error(status: int, reason: str) -> HTTPException:
    return HTTPException(status_code=status, detail={"error": reason})


async def upstream_error(resp: object) -> HTTPException:
    import httpx

    assert isinstance(resp, httpx.Response)
    try:
        reason = resp.json().get("error") or resp.text
    except ValueError:
        reason = resp.text
    status = resp.status_code if resp.status_code in (400, 404, 409, 422) else 502
    return http_error(status, str(reason))
