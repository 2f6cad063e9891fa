"""``/api/mode``: read and flip the global mode switch."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from picadaily.mode import BUILT_MODES, MODES, UnknownMode, parse_mode

from ..deps import FrontendDep
from ..errors import http_error

router = APIRouter(prefix="/api/mode", tags=["mode"])


class ModeBody(BaseModel):
    mode: str


class ModeState(BaseModel):
    mode: str
    modes: list[str]
    built: list[str]


@router.get("")
async def get_mode(fe: FrontendDep) -> ModeState:
    if fe.modes is None:
        raise http_error(503, "the mode switch is unavailable: NATS is not connected")
    return ModeState(mode=await fe.modes.get(), modes=list(MODES), built=list(BUILT_MODES))


@router.put("")
async def put_mode(body: ModeBody, fe: FrontendDep) -> ModeState:
    if fe.modes is None:
        raise http_error(503, "the mode switch is unavailable: NATS is not connected")
    try:
        mode = parse_mode(body.mode)
    except UnknownMode as exc:
        raise http_error(400, str(exc)) from exc
    if mode not in BUILT_MODES:
        raise http_error(400, f"{mode} mode is not built yet")
    await fe.modes.set(mode)
    return ModeState(mode=mode, modes=list(MODES), built=list(BUILT_MODES))
