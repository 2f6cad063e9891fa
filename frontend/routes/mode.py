"""``/api/mode``: read and flip the global mode switch."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from picadaily.mode import MODES, UnknownMode, parse_mode
from picadaily.settings import Mode

from ..auth import AdminOnly
from ..deps import FrontendDep
from ..errors import error_responses, http_error

router = APIRouter(prefix="/api/mode", tags=["mode"],
                   responses=error_responses(400, 401, 403, 413, 422, 503))


class ModeBody(BaseModel):
    mode: Mode


class ModeState(BaseModel):
    mode: str
    modes: list[str]


@router.get("")
async def get_mode(fe: FrontendDep) -> ModeState:
    return ModeState(mode=await fe.modes.get(), modes=list(MODES))


@router.put("", dependencies=[AdminOnly])
async def put_mode(body: ModeBody, fe: FrontendDep) -> ModeState:
    try:
        mode = parse_mode(body.mode)
    except UnknownMode as exc:
        raise http_error(400, str(exc)) from exc
    await fe.modes.set(mode)
    return ModeState(mode=mode, modes=list(MODES))
