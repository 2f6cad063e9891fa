"""What every HTTP edge shares: health, error mapping, fault-injection admin routes.

Errors leave a service as JSON ``{"error": reason, "retryable": bool}``: 422 for input that will
never work (not retryable), 404 for a missing picture or object, 503 for everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from picadaily.faults import FaultPlan, Faults, InjectedFault
from picadaily.imaging import ImageRejected
from picadaily.storage import ObjectMissing

log = logging.getLogger(__name__)


def error_body(reason: str, *, retryable: bool) -> dict[str, Any]:
    return {"error": reason, "retryable": retryable}


def service_app(
    name: str,
    *,
    faults: Faults | None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(title=f"PicaDaily {name}", lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.exception_handler(ImageRejected)
    async def _rejected(_: Request, exc: ImageRejected) -> JSONResponse:
        return JSONResponse(error_body(exc.reason, retryable=False), status_code=422)

    @app.exception_handler(ObjectMissing)
    async def _missing(_: Request, exc: ObjectMissing) -> JSONResponse:
        return JSONResponse(error_body(str(exc), retryable=False), status_code=404)

    @app.exception_handler(InjectedFault)
    async def _fault(_: Request, exc: InjectedFault) -> JSONResponse:
        log.warning("failing on purpose: %s", exc)
        return JSONResponse(error_body(str(exc), retryable=True), status_code=503)

    if faults is not None:
        @app.post("/admin/faults", status_code=204)
        def arm_fault(plan: FaultPlan) -> None:
            faults.arm(plan)

        @app.delete("/admin/faults", status_code=204)
        def clear_faults() -> None:
            faults.clear()

    return app

