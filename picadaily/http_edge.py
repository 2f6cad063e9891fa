"""What every service's HTTP edge shares: health, the one error shape, fault injection.

Errors leave a service as ``{"error": "<a sentence>", "retryable": bool}`` (see
``service_errors``), produced by one exception handler: 422 for input that will never work, 404
for a missing picture or object, 400 for a malformed request, 503 for everything else (retryable).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from picadaily.faults import FaultPlan, Faults, InjectedFault
from picadaily.imaging import ImageRejected
from picadaily.internal_auth import InternalOnly
from picadaily.service_errors import error_body
from picadaily.storage import ObjectMissing

log = logging.getLogger(__name__)
HealthCheck = Callable[[], str | None]  # a problem in words, or None when healthy

# exception type -> (status, retryable)
ErrorMap = Mapping[type[Exception], tuple[int, bool]]
COMMON_ERRORS: dict[type[Exception], tuple[int, bool]] = {
    ImageRejected: (422, False),
    ObjectMissing: (404, False),
    InjectedFault: (503, True),
}


def validation_reason(exc: RequestValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors())


def service_app(
    name: str,
    *,
    faults: Faults | None,
    internal_token: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    errors: ErrorMap | None = None,
) -> FastAPI:
    """A service's HTTP edge: only the stack's own processes may call it (``internal_token``,
    ``picadaily.internal_auth``), ``/healthz`` aside."""
    app = FastAPI(title=f"PicaDaily {name}", lifespan=lifespan)
    app.add_middleware(InternalOnly, token=internal_token, name=name)
    app.state.health_checks = []
    mapping: dict[type[Exception], tuple[int, bool]] = {**COMMON_ERRORS, **(errors or {})}

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        problems = [p for check in app.state.health_checks if (p := check())]
        if problems:
            return JSONResponse({"status": "failing", "service": name, "problems": problems},
                                status_code=503)
        return JSONResponse({"status": "ok", "service": name})

    async def known_error(_: Request, exc: Exception) -> JSONResponse:
        status, retryable = next(v for t, v in mapping.items() if isinstance(exc, t))
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        if isinstance(exc, InjectedFault):
            log.warning("failing on purpose: %s", exc)
        return JSONResponse(error_body(str(reason), retryable=retryable), status_code=status)

    for exc_type in mapping:
        app.add_exception_handler(exc_type, known_error)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(str(exc.detail), retryable=exc.status_code >= 500),
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(validation_reason(exc), retryable=False),
                            status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("%s failed", name, exc_info=exc)
        return JSONResponse(error_body(f"{name} failed: {exc!r}", retryable=True),
                            status_code=503)

    if faults is not None:
        @app.post("/admin/faults", status_code=204)
        def arm_fault(plan: FaultPlan) -> None:
            faults.arm(plan)

        @app.delete("/admin/faults", status_code=204)
        def clear_faults() -> None:
            faults.clear()

        @app.get("/admin/faults")
        def armed_faults() -> list[dict[str, Any]]:
            return faults.armed()

    return app


def add_health_check(app: FastAPI, check: HealthCheck) -> None:
    app.state.health_checks.append(check)


def watch_event_edge(app: FastAPI, edge: Any) -> None:
    """``/healthz`` answers 503 once the edge's consumer has died."""
    app.state.event_edge = edge
    if edge is not None:
        add_health_check(app, lambda: edge.problem)
