"""``/api/dead-letters``: events a consumer gave up on, and redriving them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path

from picadaily.deadletters import DeadLetterNotFound, NotRedrivable, list_dead_letters, redrive

from ..auth import AdminOnly
from ..deps import FrontendDep
from ..errors import error_responses, http_error

# What a consumer gave up on can hold any event's payload: admins only, reading included.
router = APIRouter(prefix="/api/dead-letters", tags=["dead letters"], dependencies=[AdminOnly],
                   responses=error_responses(400, 401, 403, 404, 409, 413, 422, 502, 503))


@router.get("")
async def get_dead_letters(fe: FrontendDep) -> dict[str, list[dict[str, Any]]]:
    letters = await list_dead_letters(fe.nats.jetstream(), fe.settings)
    return {"dead_letters": [asdict(x) for x in letters]}


@router.post("/{seq}/redrive")
async def redrive_dead_letter(seq: Annotated[int, Path(ge=1, le=2**63 - 1)],
                              fe: FrontendDep) -> dict[str, Any]:
    try:
        letter = await redrive(fe.nats.jetstream(), fe.settings, fe.metadata, seq)
    except DeadLetterNotFound as exc:
        raise http_error(404, str(exc)) from exc
    except NotRedrivable as exc:
        raise http_error(409, str(exc)) from exc
    return {"redriven": asdict(letter)}
