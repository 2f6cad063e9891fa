"""``/api/lab``: the failure lab. Stop, start or kill -9 a process of the stack (through the
stack runner's control endpoint), slow a step or make it fail (through the services' fault
injection), run a scenario. Only when the lab is on (``PICADAILY_LAB=true``; ``make demo`` turns
it on), and only for admins."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from picadaily.control_api import PROCESSES, Action, action_path
from picadaily.faults import FAULTY_SERVICES, FaultPlan, FaultyService
from picadaily.internal_auth import internal_headers

from ..auth import AdminOnly
from ..deps import Frontend, FrontendDep
from ..errors import error_responses, http_error

router = APIRouter(prefix="/api/lab", tags=["lab"], dependencies=[AdminOnly],
                   responses=error_responses(400, 401, 403, 404, 409, 413, 422, 502, 503))


def _lab_on(fe: FrontendDep) -> Frontend:
    if not fe.settings.lab:
        raise http_error(404, "the failure lab is off (PICADAILY_LAB=true turns it on)")
    return fe


LabDep = Annotated[Frontend, Depends(_lab_on)]


class ScenarioRequest(BaseModel):
    uploads: int | None = Field(default=None, ge=1, le=200, description="instead of the canned")
    outage_s: float | None = Field(default=None, ge=0, le=120, description="instead of the canned")


class FaultRequest(BaseModel):
    service: FaultyService
    plan: FaultPlan = Field(description="step, times (-1: always), probability, delay_s, fail")


async def _call(fe: Frontend, method: str, url: str, **kwargs: Any) -> Any:
    """One call of a service's or the runner's lab routes (internal: with the stack's token)."""
    headers = internal_headers(fe.settings.internal_token)
    try:
        async with httpx.AsyncClient(timeout=30, headers=headers) as client:  # (rare: no pool)
            resp = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise http_error(502, f"{url} did not answer: {exc!r}") from exc
    if resp.status_code >= 400:
        try:
            reason = resp.json().get("error", resp.text)
        except ValueError:
            reason = resp.text
        raise http_error(resp.status_code if resp.status_code < 500 else 502, str(reason))
    return resp.json() if resp.content else None


async def _faults(fe: Frontend, service: str) -> list[dict[str, Any]] | str:
    url = getattr(fe.settings, f"{service}_url")
    try:
        result: list[dict[str, Any]] = await _call(fe, "GET", f"{url}/admin/faults")
        return result
    except Exception:
        return "down"


@router.get("")
async def lab_state(fe: LabDep) -> dict[str, Any]:
    processes = await _call(fe, "GET", fe.settings.lab_control_url + PROCESSES)
    faults = await asyncio.gather(*(_faults(fe, s) for s in FAULTY_SERVICES))
    return {"processes": processes, "faults": dict(zip(FAULTY_SERVICES, faults, strict=True))}


@router.post("/processes/{name}/{action}")
async def process_action(name: str, action: Action, fe: LabDep) -> dict[str, Any]:
    url = fe.settings.lab_control_url + action_path(name, action)
    result: dict[str, Any] = await _call(fe, "POST", url)
    return result


@router.post("/faults", status_code=204)
async def arm_fault(req: FaultRequest, fe: LabDep) -> None:
    url = getattr(fe.settings, f"{req.service}_url")
    await _call(fe, "POST", f"{url}/admin/faults", json=req.plan.model_dump())


@router.delete("/faults", status_code=204)
async def clear_faults(fe: LabDep) -> None:
    for service in FAULTY_SERVICES:
        await _call(fe, "DELETE", f"{getattr(fe.settings, f'{service}_url')}/admin/faults")


@router.get("/scenarios")
async def scenarios(fe: LabDep) -> dict[str, Any]:
    runner = fe.scenarios
    assert runner is not None  # the lab is on
    return {
        "scenarios": [{"name": s.name, "title": s.title, "uploads": s.uploads,
                       "outage_s": s.outage_s} for s in runner.scenarios.values()],
        "running": runner.running,
        "latest": runner.latest.as_dict() if runner.latest else None,
    }


@router.post("/scenarios/{name}", status_code=202)
async def run_scenario(name: str, fe: LabDep,
                       req: ScenarioRequest | None = None) -> dict[str, Any]:
    """Run a canned scenario in both modes, one after the other; poll ``GET /scenarios``."""
    runner = fe.scenarios
    assert runner is not None
    if name not in runner.scenarios:
        raise http_error(404, f"no scenario {name!r}; there are: {', '.join(runner.scenarios)}")
    if runner.running:
        raise http_error(409, "a scenario is running already; one at a time")
    req = req or ScenarioRequest()
    return runner.start(name, uploads=req.uploads, outage_s=req.outage_s).as_dict()
