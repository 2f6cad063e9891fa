"""One error shape for every service: ``{"error": "<a sentence>", "retryable": bool}``.

Services produce it through the one exception handler of the shared service app
(``http_edge``); the frontend and the workflow's activities read it here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


def error_body(reason: str, *, retryable: bool) -> dict[str, Any]:
    return {"error": reason, "retryable": retryable}


@dataclass(frozen=True)
class ServiceError(Exception):
    """A service answered with an error."""

    status: int
    reason: str
    retryable: bool
    where: str = ""

    def __str__(self) -> str:
        return self.reason


def read_service_error(resp: httpx.Response) -> ServiceError | None:
    """None for a success; otherwise the service's reason and whether a retry may help.

    A body that is not our shape (a proxy's page, a crash) is summarised by its status: 5xx and
    429 are retryable, other 4xx are not."""
    if resp.is_success:
        return None
    reason: Any = None
    retryable: Any = None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        reason = body.get("error")
        retryable = body.get("retryable")
    if not isinstance(reason, str) or not reason:
        reason = (resp.text or resp.reason_phrase or "no reason given").strip()[:300]
    if not isinstance(retryable, bool):
        retryable = resp.status_code >= 500 or resp.status_code == 429
    try:
        url = resp.request.url
        where = f"{url.host}:{url.port}{url.path}"
    except RuntimeError:  # a response built by hand has no request
        where = ""
    return ServiceError(resp.status_code, reason, retryable, where)


def raise_for_service_error(resp: httpx.Response) -> None:
    error = read_service_error(resp)
    if error is not None:
        raise error
